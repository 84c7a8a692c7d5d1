"""``pluralis topics``: who talks about what — topics by group, on any prompt set (Case Study I).

Composes the layers :mod:`pluralis.topics` keeps apart: the study (any source
:func:`pluralis.data.load_study` reads), sentence embeddings cached in a store
(:class:`pluralis.store.embeddings.EmbeddingCache`: each distinct text is embedded once per model,
so re-runs skip the encoder), and topic names from any OpenAI-compatible model (:mod:`pluralis.llm`)
with PRISM's prompt — or keywords when no model is given.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import typer

from pluralis.cli._common import console, err_console, handle_errors
from pluralis.errors import ConfigError

#: Where the embedding cache lives when the study is not itself a store.
CACHE_ENV = "PLURALIS_CACHE_DIR"


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def default_cache_path() -> Path:
    """``$PLURALIS_CACHE_DIR/embeddings.sqlite``, else ``~/.cache/pluralis/embeddings.sqlite``.

    Example
    -------
    >>> default_cache_path().name
    'embeddings.sqlite'
    """
    base = os.environ.get(CACHE_ENV)
    return (Path(base) if base else Path.home() / ".cache" / "pluralis") / "embeddings.sqlite"


def llm_namer(model: str, base_url: str | None = None, api_key_env: str | None = None, timeout: float = 60.0):
    """A topic namer that asks an OpenAI-compatible server with PRISM's prompt and decoding.

    PRISM sent an empty system message, ``temperature=0, max_tokens=48, top_p=1`` (spec §5.1).

    Example
    -------
    >>> namer = llm_namer("smollm2", base_url="http://127.0.0.1:9/v1")
    >>> callable(namer)
    True
    """
    from pluralis.llm.openai_client import OpenAIBackend
    from pluralis.llm.types import DecodingParams, ModelSpec
    from pluralis.topics.naming import PRISM_NAMING_PARAMS, chat_namer

    spec = ModelSpec(
        name=model,
        base_url=base_url,
        api_key_env=api_key_env,
        system_prompt=None,
        params=DecodingParams(**PRISM_NAMING_PARAMS),  # type: ignore[arg-type]
        timeout=timeout,
    )

    def chat(messages: list[dict[str, str]]) -> str:
        async def once() -> str:
            async with OpenAIBackend(spec) as backend:
                return (await backend.chat(messages)).text

        return asyncio.run(once())

    return chat_namer(chat)


def run_topics(
    data: str,
    out: Path,
    *,
    by: list[str] | None = None,
    field: str | None = None,
    embedding_model: str | None = None,
    cache: str | None = None,
    use_cache: bool = True,
    llm_model: str | None = None,
    llm_base_url: str | None = None,
    llm_api_key_env: str | None = None,
    formats: tuple[str, ...] = ("csv",),
    **options: Any,
) -> dict:
    """Everything ``pluralis topics`` does; returns the result, the files written and cache counts.

    Example
    -------
    >>> import tempfile, numpy as np
    >>> from pluralis.data import write_prism
    >>> from pluralis.data.synthetic import generate_study
    >>> folder, out = tempfile.mkdtemp(), Path(tempfile.mkdtemp())
    >>> _ = write_prism(generate_study(n_participants=30, seed=0, planted_topics=True, with_metadata=False), folder)
    >>> r = run_topics(folder, out, by=["age"], use_cache=False, embedder=lambda ts: np.array(
    ...     [[t.count("a"), t.count("o"), len(t) / 9] for t in ts], dtype=np.float32), reducer="none",
    ...     min_cluster_size=10, n_boot=10, taus=None, rankings=False)
    >>> (out / "topics.csv").exists(), (out / "report.md").exists()
    (True, True)
    """
    from pluralis.data import load_study
    from pluralis.data.io.registry import detect_format
    from pluralis.topics.analysis import analyse_topics
    from pluralis.topics.embed import CachingEmbedder, SentenceEmbedder

    embedder = options.pop("embedder", None) or SentenceEmbedder(embedding_model)
    namer = llm_namer(llm_model, llm_base_url, llm_api_key_env) if llm_model else None
    study = load_study(data)
    frames = study.frames()
    if by is None:
        by = ["gender", "age"] if len(frames.survey) else []
    store = None
    caching = None
    try:
        if use_cache:
            from pluralis.store import EmbeddingCache, Store

            target = cache or (data if detect_format(data) == "store" else str(default_cache_path()))
            if target == str(default_cache_path()):
                default_cache_path().parent.mkdir(parents=True, exist_ok=True)
            store = Store.open(target)
            caching = CachingEmbedder(embedder, EmbeddingCache(store))
            embedder = caching
        result = analyse_topics(frames, field=field, by=by or [], embedder=embedder, namer=namer, **options)
    finally:
        if store is not None:
            store.close()
    files = result.write(out, formats=formats)
    return {
        "result": result,
        "files": files,
        "cache_hits": caching.hits if caching else 0,
        "cache_misses": caching.misses if caching else 0,
    }


def register(app: typer.Typer) -> None:
    """Add ``pluralis topics`` to the Typer app.

    Example
    -------
    >>> app = typer.Typer()
    >>> register(app)
    >>> [c.name for c in app.registered_commands]
    ['topics']
    """

    @app.command("topics")
    @handle_errors
    def topics(
        data: str = typer.Argument(..., help="PRISM folder, parquet folder, store (SQLite file / URL), Arena/CA file"),
        by: str | None = typer.Option(
            None,
            "--by",
            "-b",
            help="comma-separated group fields: gender, age, region, ethnicity, religion, conversation_type, any "
            "survey column (default: gender,age when the study has a survey)",
        ),
        out: Path = typer.Option(Path("topics-results"), "--out", "-o", help="folder for tables, figures, report.md"),
        field: str | None = typer.Option(
            None,
            "--field",
            help="text field: opening_prompt (default), open_feedback, self_description, system_string, "
            "user_prompt, model_response, prompt (comparisons) or any text column",
        ),
        embedding_model: str | None = typer.Option(
            None,
            "--embedding-model",
            help="sentence-transformers folder or cached model name (default: bundled all-MiniLM-L6-v2; "
            "PRISM used all-mpnet-base-v2)",
        ),
        cache: str | None = typer.Option(
            None,
            "--cache",
            help=f"store (SQLite file / URL) caching embeddings; default: DATA if it is a store, else ${CACHE_ENV}/embeddings.sqlite or ~/.cache/pluralis/embeddings.sqlite",
        ),
        no_cache: bool = typer.Option(False, "--no-cache", help="embed every text afresh, store nothing"),
        min_cluster_size: int | None = typer.Option(
            None, "--min-cluster-size", min=2, help="HDBSCAN minimum cluster size (default: 1% of the texts)"
        ),
        min_cluster_share: float = typer.Option(0.01, "--min-cluster-share", help="default cluster size as a share"),
        n_neighbors: int = typer.Option(15, "--n-neighbors", min=2, help="UMAP neighbours (PRISM 15)"),
        n_components: int = typer.Option(20, "--n-components", min=2, help="UMAP dimensions (PRISM 20)"),
        neighbors: str = typer.Option("auto", "--neighbors", help="auto | exact | approximate (nearest neighbours)"),
        max_fit_texts: int | None = typer.Option(
            None, "--max-fit-texts", help="fit UMAP/HDBSCAN on a sample this large and place the rest (Arena size)"
        ),
        deduplicate: bool = typer.Option(
            False, "--deduplicate", help="cluster each distinct text once (PRISM clustered every copy)"
        ),
        llm_model: str | None = typer.Option(
            None, "--llm-model", help="name topics with this model (PRISM's prompt); default: keywords"
        ),
        llm_base_url: str | None = typer.Option(
            None, "--llm-base-url", help="OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1"
        ),
        llm_api_key_env: str | None = typer.Option(None, "--llm-api-key-env", help="env variable with the API key"),
        se: str = typer.Option(
            "cluster", "--se", help="regression SEs: cluster (by participant) | HC1 (PRISM as coded) | nonrobust"
        ),
        correction: str = typer.Option("holm", "--correction", help="holm | bh | bonferroni | by | none"),
        alpha: float = typer.Option(0.01, "--alpha", help="significance level after correction (PRISM: 0.01)"),
        level: float = typer.Option(0.95, "--level", help="confidence level of intervals"),
        bootstrap: int = typer.Option(1000, "--bootstrap", "-n", min=0, help="participant-bootstrap draws"),
        min_participants: int = typer.Option(20, "--min-participants", min=1, help="smallest group reported/tested"),
        base: str = typer.Option(
            "participants", "--base", help="over-representation base rate: participants | prompts"
        ),
        taus: str = typer.Option("0.05,0.125,0.2", "--taus", help="local-neighbourhood cosine thresholds"),
        neighbourhoods: bool = typer.Option(True, "--neighbourhoods/--no-neighbourhoods", help="local neighbourhoods"),
        rankings: bool = typer.Option(True, "--rankings/--no-rankings", help="model rankings within topics"),
        rank_by: str | None = typer.Option(
            None, "--rank-by", help="group fields for topic x group rankings (default: the first --by field)"
        ),
        rank_rounds: int = typer.Option(200, "--rank-rounds", min=0, help="bootstrap rounds of topic rankings"),
        census: str | None = typer.Option(None, "--census", help="US | UK: topic prevalence reweighted to the census"),
        fmt: str = typer.Option("csv", "--format", help="csv | parquet | both"),
        seed: int = typer.Option(0, "--seed", help="seed of bootstraps and simulations"),
    ):
        """Find the topics of a study's texts and who talks about which (PRISM Case Study I).

        Example: pluralis topics prism/ --by age,gender --out results/topics
        """
        if fmt not in ("csv", "parquet", "both"):
            raise ConfigError(f"--format must be csv, parquet or both, got {fmt!r}")
        try:
            tau_list = [float(t) for t in _split(taus)] if neighbourhoods else []
        except ValueError:
            raise ConfigError(f"--taus must be comma-separated numbers, got {taus!r}") from None
        r = run_topics(
            data,
            out,
            by=_split(by) if by is not None else None,
            field=field,
            embedding_model=embedding_model,
            cache=cache,
            use_cache=not no_cache,
            llm_model=llm_model,
            llm_base_url=llm_base_url,
            llm_api_key_env=llm_api_key_env,
            formats=("csv", "parquet") if fmt == "both" else (fmt,),
            min_cluster_size=min_cluster_size,
            min_cluster_share=min_cluster_share,
            n_neighbors=n_neighbors,
            n_components=n_components,
            neighbors=neighbors,
            max_fit_texts=max_fit_texts,
            deduplicate=deduplicate,
            se=se,
            correction=correction,
            alpha=alpha,
            level=level,
            n_boot=bootstrap,
            min_participants=min_participants,
            base=base,
            taus=tau_list or None,
            rankings=rankings,
            rank_by=_split(rank_by) if rank_by is not None else None,
            rank_rounds=rank_rounds,
            census=census,
            seed=seed,
        )
        res = r["result"]
        m = res.model
        err_console.print(
            f"{len(m.labels_):,} texts ({res.field}); embeddings: {r['cache_hits']:,} cached, "
            f"{r['cache_misses']:,} computed; {m.n_topics_} topics, {100 * m.outlier_share_:.1f}% outliers"
        )
        from rich.table import Table

        table = Table(title="topics", header_style="bold")
        for col in ("topic", "name", "texts", "keywords"):
            table.add_column(col, justify="right" if col in ("topic", "texts") else "left")
        for row in res.topics.to_dict("records"):
            table.add_row(str(row["topic"]), str(row["name"]), f"{row['size']:,}", ", ".join(list(row["keywords"])[:5]))
        console.print(table)
        if res.over_representation is not None:
            sig = res.over_representation[res.over_representation["significant"].fillna(False).astype(bool)]
            console.print(f"{len(sig)} significant over/under-representations ({correction}, alpha {alpha})")
        if res.regressions is not None:
            console.print(f"{len(res.regressions.significant())} significant regression coefficients ({se} SEs)")
        for note in res.notes:
            err_console.print(f"note: {note}")
        console.print(f"wrote {len(r['files'])} files to {out}")
