"""Latency and throughput of the local embedding providers, on this machine, one thread each.

    python -m devtools.evals.embedding_bench [--queries 200] [--passages 128]

Query latency: every question of the paraphrase sets, embedded one at a time through each
provider's `embed()` (the path a question takes), the providers taking turns per question so that
load from other processes falls on all of them alike. Passage throughput: book passages of
chunk size, in batches of 16 (the ingestion path). Agreement: mean cosine between each provider's
vector and the torch float32 one's, for the same texts. Writes
loadtest/results/embedding-bench.{json,md}; quality comes from `make eval` per model.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from devtools import REPO_ROOT
from devtools.evals.metrics import percentile
from devtools.evals.querysets import QUERY_DIR, load
from devtools.figures import write_latest
from service.core.config import Settings
from service.embeddings.base import Embedder
from service.embeddings.local import LOCAL_MODEL, LocalEmbedder
from service.embeddings.local_onnx import ONNX_MODEL, OnnxLocalEmbedder
from service.knowledge.chunker import Chunker
from service.knowledge.pipeline import policy_for
from service.knowledge.text import extract_text

OUT = REPO_ROOT / "loadtest" / "results"
SETS = ("student-dev", "student-test", "cooke-dev", "cooke-test")


def _providers() -> dict[str, Embedder]:
    import torch

    torch.set_num_threads(1)
    return {LOCAL_MODEL: LocalEmbedder(), ONNX_MODEL: OnnxLocalEmbedder(threads=1)}


def _passages(settings: Settings, embedder: Embedder, n: int) -> list[str]:
    book = settings.local.corpus_dir / "brower-piano-mastery" / "brower_piano_mastery.utf8.txt"
    chunks = Chunker(policy_for(settings, embedder)).chunk(extract_text(book.read_bytes()))
    return [c.content for c in chunks[10 : 10 + n]]


async def run(n_queries: int, n_passages: int) -> dict[str, Any]:
    settings = Settings()
    providers = _providers()
    names = list(providers)
    questions = [q.query for name in SETS for q in load(QUERY_DIR / f"{name}.jsonl")][:n_queries]
    passages = _passages(settings, providers[LOCAL_MODEL], n_passages)
    for p in providers.values():
        await p.embed(questions[:5])  # load and warm up
    load_before = os.getloadavg()
    latencies: dict[str, list[float]] = {n: [] for n in names}
    for i, q in enumerate(questions):
        for name in names[i % 2 :] + names[: i % 2]:
            t0 = time.perf_counter()
            await providers[name].embed([q])
            latencies[name].append((time.perf_counter() - t0) * 1000)
    throughput: dict[str, float] = {}
    vectors: dict[str, Any] = {}
    for name in names:
        t0 = time.perf_counter()
        out: list[list[float]] = []
        for j in range(0, len(passages), 16):
            out.extend(await providers[name].embed(passages[j : j + 16]))
        throughput[name] = len(passages) / (time.perf_counter() - t0)
        vectors[name] = np.array(out + await providers[name].embed(questions), dtype=np.float32)
    load_after = os.getloadavg()
    reference = vectors[LOCAL_MODEL]
    return {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python -m devtools.evals.embedding_bench " + " ".join(sys.argv[1:]),
        "machine": {
            "cpus": os.cpu_count(),
            "threads_per_provider": 1,
            "loadavg_before": load_before,
            "loadavg_after": load_after,
        },
        "queries": len(questions),
        "passages": len(passages),
        "providers": {
            name: {
                "query_p50_ms": percentile(latencies[name], 50),
                "query_p95_ms": percentile(latencies[name], 95),
                "query_mean_ms": sum(latencies[name]) / len(latencies[name]),
                "passages_per_s": throughput[name],
                "mean_cosine_to_torch_fp32": float(np.mean(np.sum(vectors[name] * reference, 1))),
                "min_cosine_to_torch_fp32": float(np.min(np.sum(vectors[name] * reference, 1))),
            }
            for name in names
        },
    }


def markdown(r: dict[str, Any]) -> str:
    m = r["machine"]
    lines = [
        f"# Local embedding providers: latency and agreement ({r['started_at']})",
        "",
        f"Command: `{r['command']}`",
        "",
        f"{r['queries']} questions one at a time (providers alternating per question), "
        f"{r['passages']} chunk-size passages in batches of 16; {m['threads_per_provider']} "
        f"thread per provider on {m['cpus']} cores shared with other work (load average "
        f"{m['loadavg_before'][0]:.1f} before, {m['loadavg_after'][0]:.1f} after).",
        "",
        "| model | query p50 ms | query p95 ms | query mean ms | passages/s | mean cos to torch fp32 | min cos |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, p in r["providers"].items():
        lines.append(
            f"| `{name}` | {p['query_p50_ms']:.1f} | {p['query_p95_ms']:.1f} | "
            f"{p['query_mean_ms']:.1f} | {p['passages_per_s']:.1f} | "
            f"{p['mean_cosine_to_torch_fp32']:.4f} | {p['min_cosine_to_torch_fp32']:.4f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m devtools.evals.embedding_bench")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--passages", type=int, default=128)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    result = asyncio.run(run(args.queries, args.passages))
    print(markdown(result))
    write_latest(args.out, "embedding-bench", result, markdown(result))


if __name__ == "__main__":
    main()
