"""`make bench-chunker`: chunking time and tokenizer work on normal and pathological text.

The chunker runs on a worker thread for every document, so its cost on hostile input bounds how
long one upload can hold a job slot. Each case is chunked with the production policies (512/128
cl100k, and the local model's 256 word pieces) and reports seconds, MB/s and the characters the
tokenizers read per input character (flat when the work is linear). Writes
loadtest/results/bench-chunker.json and loadtest/results/bench-chunker.md.
"""

from __future__ import annotations

import json
import random
import sys
import time
from typing import Any

import service.knowledge.chunker as chunker_module
from devtools.figures import record, write_latest
from service.core.config import REPO_ROOT
from service.embeddings.tokens import count_cl100k, count_wordpiece
from service.knowledge.chunker import Chunker, ChunkingPolicy
from service.knowledge.extracted import Block, Extracted
from service.knowledge.text import extract_text

RESULTS = REPO_ROOT / "loadtest" / "results"
CORPUS = REPO_ROOT.parent / "shared" / "corpus"
MB = 1_000_000


def _cases() -> dict[str, Extracted]:
    rng = random.Random(1)
    words = ["legato", "finger", "wrist", "slowly", "scale", "arpeggio", "tone", "pedal"]
    cases = {
        "5 MB, no punctuation": " ".join(rng.choice(words) for _ in range(5 * MB // 7)),
        "5 MB, no spaces": "a" * 5 * MB,
        "5 MB, 2-char sentences": "a. " * (5 * MB // 3),
        "5 MB, CJK": "音楽の練習" * (5 * MB // 5),
    }
    out = {name: Extracted(blocks=[Block(text)]) for name, text in cases.items()}
    book = CORPUS / "cooke-great-pianists" / "cooke_great_pianists.utf8.txt"
    if book.exists():
        out["a book (Cooke, 0.5 MB)"] = extract_text(book.read_bytes())
    return out


def main() -> int:
    read = [0]

    def cl100k(text: str) -> int:
        read[0] += len(text)
        return count_cl100k(text)

    def wordpiece(text: str) -> int:
        read[0] += len(text)
        return count_wordpiece(text)

    chunker_module.count_cl100k = cl100k  # counts what the tokenizers read; same results
    policies = {
        "cl100k 512/128": ChunkingPolicy(512, 128),
        "MiniLM 256": ChunkingPolicy(512, 128, model_max_tokens=256, count_model_tokens=wordpiece),
    }
    rows: list[dict[str, Any]] = []
    for name, extracted in _cases().items():
        chars = len(extracted.joined())
        for policy_name, policy in policies.items():
            read[0] = 0
            started = time.perf_counter()
            chunks = Chunker(policy).chunk(extracted)
            seconds = time.perf_counter() - started
            rows.append(
                {
                    "case": name,
                    "policy": policy_name,
                    "chars": chars,
                    "chunks": len(chunks),
                    "seconds": round(seconds, 2),
                    "mb_per_second": round(chars / MB / seconds, 2),
                    "tokenizer_chars_per_char": round(read[0] / chars, 1),
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    run = record("chunker", "make bench-chunker", "loadtest.bench_chunker", [], rows=rows)
    lines = [
        f"# Chunker on normal and pathological text ({run['timestamp']}, `make bench-chunker`, "
        f"load average {run['machine']['load_average_1m_at_end']})",
        "",
        "| case | policy | chunks | seconds | MB/s | tokenizer chars read per char |",
        "|---|---|---|---|---|---|",
        *(
            f"| {r['case']} | {r['policy']} | {r['chunks']} | {r['seconds']} | "
            f"{r['mb_per_second']} | {r['tokenizer_chars_per_char']} |"
            for r in rows
        ),
        "",
    ]
    write_latest(RESULTS, "bench-chunker", run, "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
