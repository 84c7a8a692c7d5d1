"""Case Study I end to end: who talks about what, on any text field of any study.

:func:`analyse_topics` runs every step on a study's frames and returns a :class:`TopicsResult`
with the tables, which :meth:`TopicsResult.write` saves (CSV and/or parquet, the topic map, the
over-representation heatmap and a Markdown report section):

1. texts (:func:`pluralis.topics.data.topic_texts`) -> embeddings (the injected embedder) ->
   topics (:class:`pluralis.topics.model.TopicModel`, names from the injected namer);
2. over-representation of every group in every topic (:mod:`pluralis.topics.overrep`);
3. topic-prevalence regressions (:mod:`pluralis.topics.regression`);
4. local neighbourhoods, both as coded and as described, and the entropy test
   (:mod:`pluralis.topics.neighbourhoods`);
5. model rankings within topics and census-weighted prevalence (:mod:`pluralis.topics.conditioned`)
   when the study has ratings / the country's participants.

Example
-------
>>> from pluralis.data.synthetic import generate_study
>>> f = generate_study(n_participants=60, seed=0, planted_topics=True, with_metadata=False).frames()
>>> toy = lambda texts: np.array([[t.count("e"), len(t) / 10, t.count("o")] for t in texts], dtype=np.float32)
>>> res = analyse_topics(f, by=["age"], embedder=toy, reducer="none", min_cluster_size=20, n_boot=50,
...                      taus=(0.01,), rankings=False)
>>> sorted(res.tables())[:3]
['assignments', 'entropy', 'entropy_summary']
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from pluralis.errors import ConfigError
from pluralis.ranking.subgroups import SubgroupResult
from pluralis.topics.conditioned import census_prevalence, topic_rankings
from pluralis.topics.data import PRISM_GROUP_FIELDS, attach_groups, topic_texts
from pluralis.topics.embed import Embedder, embed_texts, embedder_name
from pluralis.topics.model import TopicModel
from pluralis.topics.naming import Namer
from pluralis.topics.neighbourhoods import (
    METHODS,
    PRISM_ENTROPY_ATTRIBUTES,
    PRISM_TAUS,
    entropy_summary,
    entropy_test,
    local_neighbourhoods,
    neighbourhood_summary,
)
from pluralis.topics.overrep import over_representation
from pluralis.topics.regression import PRISM_TERMS, RegressionResult, topic_regressions

#: Table formats :meth:`TopicsResult.write` can produce.
FORMATS = ("csv", "parquet")


@dataclass
class TopicsResult:
    """Everything :func:`analyse_topics` found; ``tables()`` gives them by name (see the module example).

    Example
    -------
    >>> TopicsResult(field="opening_prompt", by=["age"]).tables()
    {}
    """

    field: str
    by: list[str]
    model: TopicModel | None = None
    assignments: pd.DataFrame | None = None
    topics: pd.DataFrame | None = None
    keywords: pd.DataFrame | None = None
    over_representation: pd.DataFrame | None = None
    regressions: RegressionResult | None = None
    neighbourhoods: pd.DataFrame | None = None
    neighbourhood_summary: pd.DataFrame | None = None
    entropy: pd.DataFrame | None = None
    entropy_summary: pd.DataFrame | None = None
    rankings: SubgroupResult | None = None
    census: pd.DataFrame | None = None
    settings: dict[str, Any] = dataclass_field(default_factory=dict)
    timings: dict[str, float] = dataclass_field(default_factory=dict)
    cpu_timings: dict[str, float] = dataclass_field(default_factory=dict)
    notes: list[str] = dataclass_field(default_factory=list)

    def tables(self) -> dict[str, pd.DataFrame]:
        """The result tables by file stem (only those computed; see the class example)."""
        out: dict[str, pd.DataFrame] = {}
        for name in (
            "assignments",
            "topics",
            "keywords",
            "over_representation",
            "neighbourhoods",
            "neighbourhood_summary",
            "entropy",
            "entropy_summary",
            "census",
        ):
            value = getattr(self, name)
            if value is not None:
                out[name if name != "census" else "census_prevalence"] = value
        if self.regressions is not None:
            out["regressions"] = self.regressions.table
            out["regression_fits"] = self.regressions.fits
        if self.rankings is not None:
            out["topic_rankings"] = self.rankings.table
        return out

    def write(self, out: str | Path, *, formats: Sequence[str] = ("csv",), figures: bool = True) -> list[Path]:
        """Write the tables (``formats``: csv and/or parquet), the figures and ``report.md`` into ``out``.

        Example
        -------
        >>> import tempfile
        >>> r = TopicsResult(field="t", by=[], topics=pd.DataFrame({"topic": [0], "keywords": [["a", "b"]]}))
        >>> [p.name for p in r.write(tempfile.mkdtemp(), figures=False)]
        ['topics.csv', 'report.md']
        """
        bad = [f for f in formats if f not in FORMATS]
        if bad or not formats:
            raise ConfigError(f"formats must be among {FORMATS}, got {list(formats)}")
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        # everything is written to a scratch folder first and moved in at the end: no half-written results
        scratch = Path(tempfile.mkdtemp(prefix=".topics-", dir=out))
        try:
            for name, table in self.tables().items():
                flat = _flatten(table)
                if "csv" in formats:
                    flat.to_csv(scratch / f"{name}.csv", index=False)
                if "parquet" in formats:
                    flat.to_parquet(scratch / f"{name}.parquet", index=False)
            if figures:
                self.figures(scratch)
            (scratch / "report.md").write_text(self.markdown(), encoding="utf-8")
            written = sorted(scratch.iterdir(), key=lambda p: (p.name == "report.md", p.suffix == ".png", p.name))
            files = []
            for path in written:
                os.replace(path, out / path.name)
                files.append(out / path.name)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        return files

    def figures(self, out: str | Path) -> list[Path]:
        """Save the topic map and the over-representation heatmap as PNG files in ``out``.

        Example
        -------
        >>> import tempfile
        >>> TopicsResult(field="t", by=[]).figures(tempfile.mkdtemp())
        []
        """
        from pluralis.topics.plots import plot_over_representation, plot_topic_map

        out = Path(out)
        files = []
        names = self.model.names_ if self.model is not None else {}
        if self.model is not None and self.assignments is not None:
            coords = self.model.coordinates_2d()
            group_col = self.by[0] if self.by else None
            groups = self.assignments[group_col].tolist() if group_col in self.assignments.columns else None
            plot_topic_map(
                coords,
                self.model.labels_,
                out / "topic_map.png",
                names=names,
                groups=groups,
                group_name=group_col or "group",
            )
            files.append(out / "topic_map.png")
        if self.over_representation is not None and len(self.over_representation):
            plot_over_representation(self.over_representation, out / "over_representation.png", names=names)
            files.append(out / "over_representation.png")
        return files

    def markdown(self) -> str:
        """A report section (Markdown): topics, who is over-represented where, significant coefficients.

        Example
        -------
        >>> print(TopicsResult(field="opening_prompt", by=[]).markdown().splitlines()[0])
        ## Who talks about what (opening_prompt)
        """
        lines = [f"## Who talks about what ({self.field})", ""]
        s = self.settings
        if self.model is not None and self.topics is not None:
            m = self.model
            lines += [
                f"{len(m.labels_):,} texts; embeddings {s.get('embedder', '?')}; UMAP {m.n_components}-d "
                f"(n_neighbors {m.n_neighbors}); HDBSCAN min cluster size {m.min_cluster_size_}: "
                f"**{m.n_topics_} topics**, {100 * m.outlier_share_:.1f}% outliers.",
                "",
                "| topic | name | texts | share | keywords |",
                "|---|---|---|---|---|",
            ]
            for r in _rows(self.topics):
                kw = ", ".join(list(r.keywords)[:6])
                lines.append(f"| {r.topic} | {r.name} | {r.size:,} | {100 * r.share:.1f}% | {kw} |")
            lines.append("")
        if self.over_representation is not None and len(self.over_representation):
            o = self.over_representation
            sig = o[o["significant"].fillna(False).astype(bool)]
            lines += [
                f"### Over-representation ({o.attrs.get('correction', '')}-adjusted, alpha {o.attrs.get('alpha', '')})",
                "",
            ]
            if len(sig):
                names = self.model.names_ if self.model is not None else {}
                for r in _rows(sig.sort_values("factor", ascending=False)):
                    lines.append(
                        f"- {r.field} = {r.group} in *{names.get(r.topic, r.topic)}*: factor {r.factor:.2f} "
                        f"[{r.ci_low:.2f}, {r.ci_high:.2f}] ({r.n_group_topic} of {r.n_topic} texts)"
                    )
            else:
                lines.append("- no group is significantly over- or under-represented in any topic.")
            lines.append("")
        if self.regressions is not None:
            t = self.regressions.table
            sig = self.regressions.significant()
            lines += [
                f"### Topic-prevalence regressions ({t.attrs.get('se')} SEs, {t.attrs.get('correction')}-adjusted)",
                "",
                f"{len(sig)} of {int(t['tested'].sum())} tested coefficients significant.",
                "",
            ]
            names = self.model.names_ if self.model is not None else {}
            for r in _rows(sig):
                lines.append(
                    f"- *{names.get(r.topic, r.topic)}*: {r.term} = {r.level}: {r.estimate:+.3f} "
                    f"[{r.ci_low:+.3f}, {r.ci_high:+.3f}], p_adj {r.p_adjusted:.2g}"
                )
            lines.append("")
        if self.neighbourhood_summary is not None:
            lines += [
                "### Local neighbourhoods",
                "",
                "`pct_texts_in_neighbourhoods` is the share of texts in kept neighbourhoods; "
                "`neighbourhoods_per_100_texts` is the figure PRISM's Table 23 labels "
                "'% total prompts appearing in neighbourhoods' (spec §9 row 5).",
                "",
                "| method | tau | kept | texts in kept | % texts in nbhds | nbhds per 100 texts | % >= expected entropy |",
                "|---|---|---|---|---|---|---|",
            ]
            es = self.entropy_summary
            for r in _rows(self.neighbourhood_summary):
                pct = ""
                if es is not None and len(es):
                    hit = es[(es["method"] == r.method) & (es["tau"] == r.tau)]
                    if len(hit) and "pct_within_or_above" in hit.columns:
                        pct = f"{float(hit['pct_within_or_above'].iloc[0]):.1f}"
                lines.append(
                    f"| {r.method} | {r.tau:g} | {r.kept} | {r.texts_in_kept} | "
                    f"{r.pct_texts_in_neighbourhoods:.2f} | {r.neighbourhoods_per_100_texts:.2f} | {pct} |"
                )
            lines.append("")
        if self.rankings is not None:
            t = self.rankings.table
            shifted = t[(t["by"] != "(all)") & t["significant"].fillna(False).astype(bool)]
            lines += ["### Model rankings within topics", ""]
            top = t[(t["by"] == "topic") & (t["rank"] == 1)]
            for r in _rows(top):
                lines.append(f"- *{r.group}*: {r.model} ranks first")
            lines.append(f"- {len(shifted)} significant rank shifts against the overall ranking")
            lines.append("")
        if self.census is not None:
            c = self.census
            lines += [
                f"### Topic prevalence reweighted to the {c.attrs.get('country')} census "
                f"({c.attrs.get('n_participants')} participants, ESS {c.attrs.get('ess', 0):.0f})",
                "",
            ]
            names = self.model.names_ if self.model is not None else {}
            for r in _rows(c):
                lines.append(
                    f"- {names.get(r.topic, r.topic)}: {100 * r.prevalence:.1f}% raw, "
                    f"{100 * r.weighted_prevalence:.1f}% weighted"
                )
            lines.append("")
        if self.notes:
            lines += ["### Notes", "", *[f"- {n}" for n in self.notes], ""]
        return "\n".join(lines)


def _rows(frame: pd.DataFrame) -> list[Any]:
    """Rows as attribute objects (``r.topic``), for building text."""
    return [SimpleNamespace(**{str(k): v for k, v in r.items()}) for r in frame.to_dict("records")]


def _flatten(table: pd.DataFrame) -> pd.DataFrame:
    """Lists in cells become ' | '-joined strings (CSV- and parquet-safe); other columns unchanged."""
    out = table.copy()
    for c in out.columns:
        if out[c].dtype == object and out[c].map(lambda v: isinstance(v, (list, tuple))).any():
            out[c] = out[c].map(lambda v: " | ".join(map(str, v)) if isinstance(v, (list, tuple)) else v)
    out.attrs = {}
    return out


def default_terms(frame: pd.DataFrame, by: Sequence[str]) -> dict[str, str | None]:
    """PRISM's regressors that the data has (with PRISM's base when present), plus the ``by`` fields.

    Fields with a single level are left out.

    Parameters
    ----------
    frame : pandas.DataFrame
        The text frame with author fields.
    by : sequence of str
        Fields added as regressors besides PRISM's (with no base level).

    Returns
    -------
    dict of str to str or None
        Column -> its base (reference) level, or ``None`` for the first level.

    Example
    -------
    >>> f = pd.DataFrame({"gender": ["Male", "Female"], "age": ["x", "x"], "locale": ["us", "uk"]})
    >>> default_terms(f, ["locale"])
    {'gender': 'Male', 'locale': None}
    """
    terms: dict[str, str | None] = {}
    for col, base in {**PRISM_TERMS, **{b: None for b in by if b not in PRISM_TERMS}}.items():
        if col not in frame.columns:
            continue
        levels = set(frame[col].dropna().astype(str))
        if len(levels) < 2:
            continue
        terms[col] = base if base in levels else None
    return terms


def analyse_topics(
    frames,
    *,
    field: str | None = None,
    by: Sequence[str] = ("gender", "age"),
    embedder: Embedder | None = None,
    embeddings: np.ndarray | None = None,
    namer: Namer | None = None,
    model: TopicModel | None = None,
    base: str = "participants",
    min_participants: int = 20,
    n_boot: int = 1000,
    level: float = 0.95,
    alpha: float = 0.01,
    correction: str = "holm",
    terms: dict[str, str | None] | Sequence[str] | None = None,
    se: str = "cluster",
    taus: Sequence[float] | None = PRISM_TAUS,
    methods: Sequence[str] = METHODS,
    entropy_draws: int = 100,
    neighbors: str = "auto",
    rankings: bool = True,
    rank_by: Sequence[str] | None = None,
    rank_rounds: int = 200,
    rank_method: str = "prc",
    census: str | None = None,
    seed: int = 0,
    **model_params: Any,
) -> TopicsResult:
    """Run Case Study I on ``frames`` (a study's :class:`~pluralis.data.study.StudyFrames`).

    Parameters
    ----------
    field
        text field (default: opening prompts, else comparison prompts; see :func:`topic_texts`).
    by
        group fields for over-representation, the map and topic x group rankings; they also join
        the regression when ``terms`` is not given (aliases such as ``region`` allowed).
    embedder, embeddings, namer
        the injected embedder (or precomputed embeddings, one row per text of ``field``) and namer.
    model, model_params
        a configured :class:`~pluralis.topics.model.TopicModel`, or its settings
        (``min_cluster_size=...``, ``n_neighbors=...``).
    base, min_participants, n_boot, level, alpha, correction
        over-representation and testing settings (also used by the regressions).
    terms, se
        regression terms (default :func:`default_terms`) and standard errors (``"cluster"``,
        ``"HC1"``, ``"nonrobust"``).
    taus, methods, entropy_draws, neighbors
        local neighbourhoods (``taus=None`` skips them); ``neighbors`` ``"auto"`` is exact up to
        20,000 texts.
    rankings, rank_by, rank_rounds, rank_method
        topic-conditioned model rankings (when the study has rated responses): per topic and per
        topic x group of ``rank_by`` (default: the first ``by`` field; ``[]`` for topics only).
    census
        ``"US"``/``"UK"``: census-weighted topic prevalence of that country's participants.
    seed
        for every bootstrap and simulation.

    Example
    -------
    >>> from pluralis.data.synthetic import generate_study
    >>> f = generate_study(n_participants=40, seed=0, planted_topics=True, with_metadata=False).frames()
    >>> toy = lambda texts: np.array([[t.count("a"), t.count("o"), len(t) / 9] for t in texts], dtype=np.float32)
    >>> r = analyse_topics(f, by=["gender"], embedder=toy, reducer="none", min_cluster_size=15, n_boot=20,
    ...                    taus=None, rankings=False)
    >>> r.assignments.columns[:5].tolist()
    ['text_id', 'text', 'user_id', 'conversation_id', 'conversation_type']
    """
    timings: dict[str, float] = {}
    cpu_timings: dict[str, float] = {}
    clock, cpu = time.perf_counter(), time.process_time()

    def lap(name: str) -> None:
        nonlocal clock, cpu
        now, now_cpu = time.perf_counter(), time.process_time()
        timings[name], cpu_timings[name] = now - clock, now_cpu - cpu
        clock, cpu = now, now_cpu

    texts = topic_texts(frames, field)
    field = texts.attrs["field"]
    survey = frames.survey if len(frames.survey) else None
    texts, by_cols = attach_groups(texts, list(by), survey)
    extra = [c for c in PRISM_ENTROPY_ATTRIBUTES + PRISM_GROUP_FIELDS if c not in texts.columns]
    if survey is not None:
        texts, _ = attach_groups(texts, [c for c in extra if c in survey.columns], survey)
    if embeddings is None:
        embeddings = embed_texts(texts["text"].tolist(), embedder)
        lap("embed")
    E = np.asarray(embeddings, dtype=np.float32)
    if E.shape[0] != len(texts):
        raise ConfigError(f"{E.shape[0]} embeddings for {len(texts)} texts of {field!r}")
    tm = model if model is not None else TopicModel(embedder, namer=namer, **model_params)
    if model is not None and namer is not None:
        tm.set_params(namer=namer)
    tm.fit(texts["text"].tolist(), embeddings=E)
    lap("topics")
    assign = texts.assign(
        topic=tm.labels_,
        topic_name=pd.Series(tm.labels_).map(tm.names_).to_numpy(),
        distance=tm.distances_,
    )
    keywords = pd.DataFrame(
        [
            {"topic": t, "rank": i + 1, "term": w, "score": s}
            for t, row in tm.topics_.set_index("topic").iterrows()
            for i, (w, s) in enumerate(zip(row["keywords"], row["keyword_scores"]))
        ]
    )
    res = TopicsResult(field=field, by=by_cols, model=tm, assignments=assign, topics=tm.topics_, keywords=keywords)
    res.settings = {
        "embedder": embedder_name(embedder) if embedder is not None else "all-MiniLM-L6-v2",
        "n_texts": len(texts),
        "alpha": alpha,
        "correction": correction,
        "se": se,
    }
    if by_cols and tm.n_topics_:
        res.over_representation = over_representation(
            assign,
            by_cols,
            base=base,
            min_participants=min_participants,
            n_boot=n_boot,
            level=level,
            alpha=alpha,
            correction=correction,
            seed=seed,
        )
        lap("over_representation")
    if tm.n_topics_:
        spec = default_terms(assign, by_cols) if terms is None else terms
        if spec:
            try:
                res.regressions = topic_regressions(
                    assign,
                    terms=spec,
                    se=se,
                    alpha=alpha,
                    correction=correction,
                    level=level,
                    min_participants=min_participants,
                    cluster="user_id",
                )
            except ConfigError as exc:
                res.notes.append(f"topic regressions skipped: {exc}")
            lap("regressions")
    if taus:
        n_exact = 20_000
        nb_neighbors = neighbors if neighbors != "auto" else ("exact" if len(texts) <= n_exact else "approximate")
        labels_frames, summaries, tests, tsum = [], [], [], []
        attributes = [c for c in PRISM_ENTROPY_ATTRIBUTES if c in assign.columns]
        for method in methods:
            nb = local_neighbourhoods(
                E,
                assign["text"].tolist(),
                taus=taus,
                method=method,
                neighbors=nb_neighbors,
                seed=seed,
            )
            labels_frames.append(nb.add_prefix(f"{method}:"))
            summaries.append(neighbourhood_summary(nb, assign["user_id"].tolist()))
            if attributes:
                for col in nb.columns:
                    tau = float(col.split("=")[-1])
                    et = entropy_test(
                        assign,
                        nb[col].to_numpy(),
                        attributes=attributes,
                        diagnostics=["topic", "user_id"],
                        m=entropy_draws,
                        seed=seed,
                    )
                    tests.append(et.assign(method=method, tau=tau))
                    tsum.append({"method": method, "tau": tau, **entropy_summary(et)})
        ids = assign[["text_id", "user_id"]].reset_index(drop=True)
        res.neighbourhoods = pd.concat([ids, *labels_frames], axis=1)
        res.neighbourhood_summary = pd.concat(summaries, ignore_index=True)
        if tests:
            res.entropy = pd.concat(tests, ignore_index=True)
            res.entropy_summary = pd.DataFrame(tsum)
        lap("neighbourhoods")
    ratings = frames.utterances if len(frames.utterances) else frames.comparisons
    if rankings and len(ratings) and tm.n_topics_:
        try:
            rank_fields = by_cols[:1] if rank_by is None else attach_groups(assign, list(rank_by), survey)[1]
            res.rankings = topic_rankings(
                ratings,
                assign,
                by=rank_fields or None,
                survey=survey,
                method=rank_method,
                rounds=rank_rounds,
                level=level,
                min_participants=min_participants,
                seed=seed,
            )
        except ConfigError as exc:
            res.notes.append(f"topic rankings skipped: {exc}")
        lap("rankings")
    if census is not None:
        if survey is None:
            raise ConfigError("census reweighting needs the participants' survey")
        res.census = census_prevalence(assign, survey, census, n_boot=min(n_boot, 500), level=level, seed=seed)
        lap("census")
    res.timings, res.cpu_timings = timings, cpu_timings
    return res
