"""``pluralis topics`` end to end, the store's embedding cache, and LLM naming over an OpenAI-compatible server."""

from __future__ import annotations

import httpx
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from pluralis.cli import app
from pluralis.data import write_prism
from pluralis.data.synthetic import generate_study
from pluralis.errors import StoreError
from pluralis.store import EmbeddingCache, Store
from pluralis.topics.embed import CachingEmbedder, SentenceEmbedder
from pluralis.topics.naming import PRISM_NAMING_PROMPT

runner = CliRunner()

TABLES = (
    "topics",
    "assignments",
    "keywords",
    "over_representation",
    "regressions",
    "regression_fits",
    "neighbourhoods",
    "neighbourhood_summary",
    "entropy",
    "entropy_summary",
    "topic_rankings",
)


@pytest.fixture(scope="module")
def small_prism(tmp_path_factory):
    folder = tmp_path_factory.mktemp("prism")
    write_prism(generate_study(n_participants=90, seed=2, planted_topics=True, with_metadata=False), folder)
    return folder


def invoke(args):
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result


def test_cli_writes_tables_figures_and_report_and_reruns_from_the_cache(small_prism, tmp_path, embedder):
    out, cache = tmp_path / "out", tmp_path / "cache.sqlite"
    args = [
        "topics",
        str(small_prism),
        "--by",
        "age",
        "--out",
        str(out),
        "--cache",
        str(cache),
        "--min-cluster-size",
        "20",
        "--n-neighbors",
        "30",
        "--deduplicate",
        "--bootstrap",
        "100",
        "--rank-rounds",
        "20",
        "--min-participants",
        "5",
        "--census",
        "US",
        "--format",
        "both",
    ]
    first = invoke(args)
    assert "computed" in first.output or "topics" in first.output
    for name in (*TABLES, "census_prevalence"):
        assert (out / f"{name}.csv").exists(), name
        assert (out / f"{name}.parquet").exists(), name
    for fig in ("topic_map.png", "over_representation.png"):
        assert (out / fig).stat().st_size > 10_000
    report = (out / "report.md").read_text()
    assert report.startswith("## Who talks about what (opening_prompt)")
    assert "neighbourhoods_per_100_texts" in report
    topics = pd.read_csv(out / "topics.csv")
    assert 4 <= (topics["topic"] >= 0).sum() <= 8
    o = pd.read_csv(out / "over_representation.csv")
    assert set(o["field"]) == {"age"}
    a = pd.read_parquet(out / "assignments.parquet")
    assert len(a) == 90 * 6 and {"text_id", "user_id", "topic", "topic_name", "age"} <= set(a.columns)
    with Store.open(cache) as store:
        n_cached = EmbeddingCache(store).count("all-MiniLM-L6-v2")
    assert n_cached == a["text"].nunique()
    # a re-run embeds nothing: every text comes from the store
    second = invoke(args)
    assert f"{n_cached:,} cached, 0 computed" in second.output.replace("\n", " ")
    pd.testing.assert_frame_equal(pd.read_csv(out / "topics.csv"), topics)


def test_cli_reports_bad_options_as_errors(small_prism, tmp_path):
    result = runner.invoke(app, ["topics", str(small_prism), "--out", str(tmp_path), "--format", "xlsx"])
    assert result.exit_code == 2 and "--format" in result.output
    result = runner.invoke(app, ["topics", str(small_prism), "--out", str(tmp_path), "--by", "shoe_size", "--no-cache"])
    assert result.exit_code == 2 and "shoe_size" in result.output


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_embedding_cache_round_trip(backend, tmp_path, request):
    url = tmp_path / "s.sqlite" if backend == "sqlite" else request.getfixturevalue("postgres_url")
    calls = []

    def toy(texts):
        calls.append(list(texts))
        return np.array([[len(t), t.count("a"), 1.5] for t in texts], dtype=np.float32)

    with Store.open(url) as store:
        cache = EmbeddingCache(store)
        e = CachingEmbedder(toy, cache, name="toy-model")
        first = e(["banana", "apple", "banana", "ümlaut ✓"])
        again = CachingEmbedder(toy, cache, name="toy-model")(["apple", "ümlaut ✓", "banana"])
        other = CachingEmbedder(toy, cache, name="other-model")(["apple"])
        assert calls == [["banana", "apple", "ümlaut ✓"], ["apple"]]  # keyed by model name and text
        np.testing.assert_array_equal(again, first[[1, 3, 0]])
        np.testing.assert_array_equal(other, first[[1]])
        assert cache.models() == {"toy-model": 3, "other-model": 1}
        assert cache.clear("other-model") == 1 and cache.count() == 3
        with pytest.raises(StoreError, match="one vector per text"):
            cache.put("m", ["a", "b"], np.zeros((1, 3)))


def test_sentence_embedder_through_the_cache_equals_direct(tmp_path, embedder):
    texts = ["How do I bake bread?", "Cheap flights to Peru", "How do I bake bread?"]
    with Store.open(tmp_path / "s.sqlite") as store:
        cached = CachingEmbedder(SentenceEmbedder(), EmbeddingCache(store))(texts)
    np.testing.assert_allclose(cached, embedder(texts), atol=1e-6)


def test_llm_namer_sends_prisms_prompt_and_decoding(double_server, planted_fit):
    from pluralis.cli.topics import llm_namer

    tm, _, _ = planted_fit
    namer = llm_namer("namer-check", base_url=double_server)
    name = namer(tm.typical_texts_[0], tm.keywords_[0])
    body = httpx.get(double_server.removesuffix("/v1") + "/last/namer-check").json()
    assert body["messages"][0] == {"role": "system", "content": ""}
    expected = PRISM_NAMING_PROMPT.format(top_texts=tm.typical_texts_[0], top_words=tm.keywords_[0])
    assert body["messages"][1] == {"role": "user", "content": expected}
    assert (body["temperature"], body["max_tokens"], body["top_p"]) == (0.0, 48, 1.0)
    assert name.startswith("[namer-check]")


def test_topics_named_by_smollm2_on_llama_cpp(llamacpp_server, planted_fit):
    from pluralis.cli.topics import llm_namer

    tm, _, _ = planted_fit
    namer = llm_namer("smollm2", base_url=llamacpp_server)
    names = [namer(tm.typical_texts_[t], tm.keywords_[t]) for t in sorted(tm.typical_texts_)[:2]]
    assert all(isinstance(n, str) and 0 < len(n) <= 80 and "\n" not in n for n in names)
