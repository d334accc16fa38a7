"""What turning on the Workers AI re-ranker costs per question, as far as this machine can tell.

    python -m devtools.evals.rerank_cost [--db-name eval_corpus] [--queries 120]

Runs the paraphrase sets' questions through the production retrieval path (`RagEngine.retrieve`)
twice over the `make eval` corpus database: without re-ranking, and with the `workers-ai`
re-ranker (the real client: request body with every candidate's text, Cloudflare's envelope,
re-ordering) pointed at a local server that answers in bge-reranker-base's wire format at once.
The difference is our side of the cost: a wider candidate pool from search, serialising the
candidates, one HTTP round trip on loopback and parsing. Not measurable here: the model's own
inference time on Cloudflare, the network from the instances to Cloudflare, and the re-ranker's
effect on quality (bge-reranker-base's weights are not available offline). Writes
loadtest/results/rerank-cost.{json,md}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from devtools import REPO_ROOT
from devtools.evals import eval_server
from devtools.evals.metrics import percentile
from devtools.evals.querysets import QUERY_DIR, load
from devtools.evals.retrieval_eval import open_pool
from devtools.evals.variants import EVAL_USER
from devtools.figures import write_latest
from devtools.postgres import database_url
from service.answers.engine import QueryInput, RagEngine
from service.cache.backends import NullCache
from service.cache.layers import RagCache
from service.core.config import Settings
from service.embeddings.factory import get_embedder
from service.search.rerank import NoRerank, Reranker, build_reranker

OUT = REPO_ROOT / "loadtest" / "results"
SETS = ("cooke-dev", "student-dev")
ACCOUNT = "bench-account"


class _InstantReranker:
    """`POST /accounts/{id}/ai/run/@cf/baai/bge-reranker-base`, answered at once (ids in order)."""

    def __init__(self) -> None:
        self.bytes_in: list[int] = []
        bench = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                bench.bytes_in.append(len(raw))
                body = json.loads(raw)
                n = min(len(body["contexts"]), int(body.get("top_k") or len(body["contexts"])))
                out = json.dumps(
                    {
                        "result": {
                            "response": [{"id": i, "score": 1.0 - i / 100} for i in range(n)]
                        },
                        "success": True,
                        "errors": [],
                        "messages": [],
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


async def _timings(
    engine: RagEngine, questions: list[str], vectors: list[list[float]]
) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"search": [], "rerank": [], "total": []}
    for q, v in zip(questions, vectors, strict=True):
        t0 = time.perf_counter()
        r = await engine.retrieve(QueryInput(q, EVAL_USER, "admin", top_k=10, query_embedding=v))
        out["total"].append((time.perf_counter() - t0) * 1000)
        out["search"].append(r.timings.get("search", 0.0))
        out["rerank"].append(r.timings.get("rerank", 0.0))
    return out


async def run(db_name: str, n_queries: int) -> dict[str, Any]:
    settings = Settings()
    server = eval_server(settings.local_dir)
    url = database_url(server, db_name)
    embedder = get_embedder(settings)
    questions = [q.query for s in SETS for q in load(QUERY_DIR / f"{s}.jsonl")][:n_queries]
    vectors = await embedder.embed(questions)
    fake = _InstantReranker()
    on = settings.model_copy(
        update={
            "rerank_provider": "workers-ai",
            "workers_ai_base_url": fake.url,
            "cloudflare_account_id": ACCOUNT,
            "workers_ai_api_token": SecretStr("bench"),
        }
    )
    pool = await open_pool(url, max_size=2)
    results: dict[str, Any] = {}
    try:
        rerankers: dict[str, Reranker] = {"off": NoRerank(), "workers-ai": build_reranker(on)}
        for name, reranker in rerankers.items():
            engine = RagEngine(
                on, pool, embedder, RagCache(NullCache(), {}), reranker, None, "extractive"
            )
            await _timings(engine, questions[:5], vectors[:5])  # connections, HTTP client
            results[name] = await _timings(engine, questions, vectors)
            await reranker.aclose()
    finally:
        await pool.close()
        fake.close()
    summary = {
        name: {
            f"{stage}_{q}_ms": percentile(values, p)
            for stage, values in t.items()
            for q, p in (("p50", 50), ("p95", 95))
        }
        for name, t in results.items()
    }
    return {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python -m devtools.evals.rerank_cost " + " ".join(sys.argv[1:]),
        "run_id": str(uuid.uuid4()),
        "queries": len(questions),
        "candidates": on.rerank.candidates,
        "request_bytes_p50": percentile([float(b) for b in fake.bytes_in], 50),
        "loadavg": os.getloadavg(),
        "retrieval": summary,
    }


def markdown(r: dict[str, Any]) -> str:
    off, on = r["retrieval"]["off"], r["retrieval"]["workers-ai"]
    rows = [
        ("search (hybrid, pool of 10 vs 20)", "search"),
        ("re-rank call", "rerank"),
        ("retrieve() total", "total"),
    ]
    lines = [
        f"# Re-ranking cost on our side ({r['started_at']})",
        "",
        f"Command: `{r['command']}`",
        "",
        f"{r['queries']} dev questions (Cooke + students), `RagEngine.retrieve` with query "
        f"vectors precomputed; re-ranker = the `workers-ai` client sending {r['candidates']} "
        f"candidates (request body p50 {r['request_bytes_p50'] / 1024:.1f} KiB) to a local "
        "server answering in bge-reranker-base's format at once. Load average "
        f"{r['loadavg'][0]:.1f} on 2 cores.",
        "",
        "| stage | off p50 ms | off p95 ms | workers-ai p50 ms | workers-ai p95 ms |",
        "|---|---|---|---|---|",
    ]
    for label, stage in rows:
        lines.append(
            f"| {label} | {off[f'{stage}_p50_ms']:.1f} | {off[f'{stage}_p95_ms']:.1f} | "
            f"{on[f'{stage}_p50_ms']:.1f} | {on[f'{stage}_p95_ms']:.1f} |"
        )
    lines += [
        "",
        "Not measured here: bge-reranker-base's inference time on Workers AI and the round trip "
        "from the instances to Cloudflare (add both to the re-rank row; `RERANK_TIMEOUT_SECONDS` "
        "caps them), and the change in ranking quality.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m devtools.evals.rerank_cost")
    parser.add_argument("--db-name", default="eval_corpus")
    parser.add_argument("--queries", type=int, default=120)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    result = asyncio.run(run(args.db_name, args.queries))
    print(markdown(result))
    write_latest(args.out, "rerank-cost", result, markdown(result))


if __name__ == "__main__":
    main()
