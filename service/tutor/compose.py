"""The offline tutor's answer: the user's own data and quoted passages, put side by side.

No language model writes it, and it says so. Every line is either fixed framing or copied from
a tool result: scores and segment times from the analysis, goals from the user's context,
sentences verbatim from cited passages. Nothing is invented.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from service.answers.extractive import best_sentences
from service.search.hybrid import SearchHit
from service.tutor.planner import weak_dimensions

HEADER = "Tutor answer put together from your data and your sources; no language model wrote it."
MAX_PASSAGES = 3


def _context_lines(context: dict[str, Any] | None) -> list[str]:
    if not context:
        return []
    lines = []
    if context.get("goals"):
        lines.append(f"Your goals: {context['goals']}")
    if context.get("practice_minutes_per_day"):
        lines.append(f"Your practice time: {context['practice_minutes_per_day']} minutes a day.")
    if context.get("constraints"):
        lines.append(f"Your constraints: {context['constraints']}")
    if context.get("experience_level"):
        lines.append(f"Your level: {context['experience_level']}.")
    return lines


def _analysis_lines(analysis: dict[str, Any]) -> list[str]:
    recording = analysis["recording"]
    dims = analysis["dimensions"]
    lines = [f'Your recording "{recording["name"]}" (uploaded {recording["uploaded_at"]}):']
    weak = weak_dimensions(dims)
    for name, score in weak[:3]:
        where = ", ".join(s["label"] for s in dims[name]["segments"] if s.get("label"))
        scale = dims[name]["scale"]
        lines.append(
            f"- To work on: {name} = {score:.2f} ({scale})"
            + (f", most in {where}" if where else "")
        )
    measured = {n: d["score"] for n, d in dims.items() if d["score"] is not None}
    if not weak:
        lines.append("- No judged dimension needs work by the feedback report's thresholds.")
    others = [f"{n} {s:.2f}" for n, s in measured.items() if n not in dict(weak)][:6]
    if others:
        lines.append("- Other scores: " + ", ".join(others) + ".")
    return lines


def compose(
    message: str,
    query: str,
    context: dict[str, Any] | None,
    analyses: Sequence[dict[str, Any]],
    notes: Sequence[str],
    hits: Sequence[SearchHit],
) -> str:
    """`notes` are the fixed sentences for tools that found nothing (e.g. no such recording)."""
    parts = [HEADER, ""]
    parts += _context_lines(context)
    for analysis in analyses:
        parts += ["", *_analysis_lines(analysis)]
    if notes:
        parts += ["", *notes]
    quotes = []
    for n, hit in enumerate(hits[:MAX_PASSAGES], start=1):
        quote = " … ".join(best_sentences(query, hit.content))
        if quote:
            quotes.append(f'- "{quote}" [{n}]')
    if quotes:
        parts += ["", "From your sources:", *quotes]
    elif not analyses:
        parts += ["", "No passage in the sources you can access matches this question."]
    return "\n".join(parts).strip() + "\n"
