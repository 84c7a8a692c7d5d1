"""``pluralis learn``: whose feedback? Preference models per group, evaluated across groups."""

from __future__ import annotations

import warnings
from pathlib import Path

import typer

from pluralis.cli._common import console, err_console, handle_errors, progress_bar
from pluralis.errors import ConfigError

#: Texts embedded per step of the progress bar.
EMBED_CHUNK = 512


def _split(value: str | None) -> list[str] | None:
    if value is None:
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    return items or None


def _fmt(v: float, lo: float, hi: float) -> str:
    if v != v:
        return "–"
    return f"{v:.3f} [{lo:.3f}, {hi:.3f}]" if lo == lo else f"{v:.3f}"


def embed_with_cache(texts, data: str, cache: str | None = None, use_cache: bool = True) -> dict[str, int]:
    """Embed the distinct ``texts`` once with the bundled all-MiniLM-L6-v2, reusing a store's cache.

    Vectors already in the cache (:class:`pluralis.store.EmbeddingCache`, keyed by model name and text hash,
    shared with ``pluralis topics``) are read instead of computed; new ones are written there. All of them
    are then in this process's cache (:func:`pluralis.features.embeddings.remember_embeddings`), so the
    embedding featuriser computes nothing afterwards. The encoding shows a progress bar.

    Parameters
    ----------
    texts
        the texts (repeats are embedded once).
    data
        the study; its store holds the cache when it is one.
    cache
        the store (SQLite file / URL) caching embeddings (default: ``data`` if it is a store, else
        ``$PLURALIS_CACHE_DIR/embeddings.sqlite`` or ``~/.cache/pluralis/embeddings.sqlite``).
    use_cache
        ``False``: embed every text afresh and store nothing.

    Returns
    -------
    dict
        ``texts`` (distinct), ``cached`` (read from the store), ``embedded`` (computed now).

    Example
    -------
    >>> import tempfile, os
    >>> db = os.path.join(tempfile.mkdtemp(), "cache.sqlite")
    >>> embed_with_cache(["a", "b", "a"], "unused", cache=db)
    {'texts': 2, 'cached': 0, 'embedded': 2}
    >>> embed_with_cache(["b", "a"], "unused", cache=db)
    {'texts': 2, 'cached': 2, 'embedded': 0}
    """
    import numpy as np
    import pandas as pd

    from pluralis.cli.topics import default_cache_path
    from pluralis.data.io.registry import detect_format
    from pluralis.features.embeddings import embed_texts, remember_embeddings

    name = "all-MiniLM-L6-v2"  # the name pluralis topics caches the same (normalised) vectors under
    distinct = [str(t) for t in pd.unique(pd.Series(list(texts), dtype=object).fillna("").astype(str))]
    store = None
    found: dict = {}
    try:
        if use_cache:
            from pluralis.store import EmbeddingCache, Store

            target = cache or (data if detect_format(data) == "store" else str(default_cache_path()))
            if target == str(default_cache_path()):
                default_cache_path().parent.mkdir(parents=True, exist_ok=True)
            store = Store.open(target)
            found = EmbeddingCache(store).get(name, distinct) if distinct else {}
            if found:
                remember_embeddings(list(found), np.stack(list(found.values())))
        todo = [t for t in distinct if t not in found]
        if todo:
            # one call: the encoder batches all the texts by token count and keeps its streams busy; the
            # vectors reach the store every EMBED_CHUNK texts, so an interrupted run keeps what it computed
            unsaved: list[tuple[list[str], np.ndarray]] = []

            def save() -> None:
                if store is not None and unsaved:
                    EmbeddingCache(store).put(
                        name, [t for b, _ in unsaved for t in b], np.concatenate([v for _, v in unsaved])
                    )
                unsaved.clear()

            with progress_bar(f"embedding {len(todo):,} texts", len(todo)) as advance:

                def on_batch(batch: list[str], vectors: np.ndarray) -> None:
                    unsaved.append((batch, vectors))
                    if sum(len(b) for b, _ in unsaved) >= EMBED_CHUNK:
                        save()
                    advance(len(batch))

                embed_texts(todo, on_batch=on_batch)
                save()
    finally:
        if store is not None:
            store.close()
    return {"texts": len(distinct), "cached": len(found), "embedded": len(todo)}


def advance_to(advance):
    """A ``progress(done, total)`` callback (as the learners call it) driving a :func:`progress_bar`'s ``advance``.

    Parameters
    ----------
    advance
        the ``advance(n)`` callback of a progress bar (it may also take ``total=``).

    Returns
    -------
    callable

    Example
    -------
    >>> steps = []
    >>> cb = advance_to(lambda n=1, total=None: steps.append((n, total)))
    >>> cb(1, 4); cb(2, 4)
    >>> steps
    [(1, 4), (1, 4)]
    """
    state = {"done": 0}

    def callback(done: int, total: int) -> None:
        advance(done - state["done"], total=total)
        state["done"] = done

    return callback


def run_learn(
    data: str,
    by: str,
    out: Path,
    *,
    features: str = "text",
    feature_set: str = "prism",
    model: str = "reward",
    covariates: list[str] | None = None,
    groups: list[str] | None = None,
    folds: int = 5,
    bootstrap: int = 200,
    weights_bootstrap: int = 0,
    min_participants: int = 30,
    equalize: bool = True,
    tie_threshold: float | None = None,
    ties: str = "drop",
    turns: str = "all",
    composition: list[str] | None = None,
    shares: list[float] | None = None,
    alpha: float = 1.0,
    seed: int = 0,
    cache: str | None = None,
    use_cache: bool = True,
    jobs: int | None = 1,
) -> dict:
    """Everything ``pluralis learn`` does, returning the result objects and written files.

    Loads DATA (:func:`pluralis.data.load_study`), builds preference pairs with the survey attached,
    featurises once, runs :func:`~pluralis.learn.groups.cross_group_accuracy` (and
    :func:`~pluralis.learn.groups.composition_curve` with ``composition=[A, B]``) and writes CSV and
    PNG files to ``out``.

    Parameters
    ----------
    data
        the study (anything :func:`pluralis.data.load_study` reads).
    by
        the grouping field (survey field, alias, or pair field).
    out
        the output folder.
    features, feature_set
        ``"text"`` (with the named :class:`~pluralis.learn.featurizers.TextFeaturizer` set) or
        ``"embedding"``.
    model
        ``"reward"`` or ``"personalised"`` (on ``covariates``).
    covariates
        survey fields of the personalised model.
    groups
        the groups to compare (default: every group large enough).
    folds, bootstrap, weights_bootstrap, min_participants, equalize
        options of :func:`~pluralis.learn.groups.cross_group_accuracy` and
        :func:`~pluralis.learn.groups.group_weights`.
    tie_threshold, ties, turns
        options of :func:`~pluralis.learn.pairs.pairs_from_study`.
    composition, shares
        two groups and the shares of the first for :func:`~pluralis.learn.groups.composition_curve`.
    alpha
        L2 penalty.
    seed
        random seed.
    cache, use_cache
        the store caching sentence embeddings (``features="embedding"``), see :func:`embed_with_cache`.
    jobs
        processes for the cross-group fits (``n_jobs`` of :func:`~pluralis.learn.groups.cross_group_accuracy`;
        0 or None: one per CPU core; 1, the default: here, one after the other — each worker process first
        spends ~2 s importing the scientific stack, more than it saves on 2 cores). The results do not
        depend on it.

    Returns
    -------
    dict
        ``pairs``, ``result``, ``weights``, ``composition``, the written ``files`` and the field ``by``.

    Example
    -------
    >>> import tempfile
    >>> from pluralis.data import write_prism
    >>> from pluralis.data.synthetic import generate_study
    >>> folder, out = tempfile.mkdtemp(), Path(tempfile.mkdtemp())
    >>> _ = write_prism(generate_study(n_participants=60, seed=0, with_metadata=False), folder)
    >>> r = run_learn(folder, "study_locale", out, groups=["us", "uk"], folds=3, bootstrap=10, min_participants=5)
    >>> sorted(p.name for p in r["files"])[:2]
    ['cross_group.csv', 'cross_group_accuracy.csv']
    """
    import pandas as pd

    from pluralis.data import load_study
    from pluralis.learn.featurizers import make_featurizer
    from pluralis.learn.groups import composition_curve, cross_group_accuracy, group_weights
    from pluralis.learn.models import PersonalisedRewardModel, RewardModel, featurize_pairs
    from pluralis.learn.pairs import DEFAULT_SURVEY_COLUMNS, pairs_from_study
    from pluralis.ranking.subgroups import field_by_key, resolve_field

    if features not in ("text", "embedding", "model"):
        raise ConfigError(f"--features must be 'text', 'embedding' or 'model', got {features!r}")
    if model not in ("reward", "personalised", "personalized"):
        raise ConfigError(f"--model must be 'reward' or 'personalised', got {model!r}")
    if ties not in ("drop", "half"):
        raise ConfigError(f"--ties must be 'drop' or 'half', got {ties!r}")
    if turns not in ("all", "openers"):
        raise ConfigError(f"--turns must be 'all' or 'openers', got {turns!r}")
    if min_participants < folds:
        raise ConfigError(f"--min-participants ({min_participants}) must be at least the number of folds ({folds})")
    if composition is not None and len(composition) != 2:
        raise ConfigError(f"--composition takes two groups, A,B; got {composition}")
    # model features need the study's models: built once the pairs are read
    featurizer = make_featurizer(
        features,
        **({"features": feature_set} if features == "text" else {"categories": ["?"]} if features == "model" else {}),
    )
    if features == "text":
        featurizer.get_feature_names_out()  # checks --feature-set before loading anything
    study = load_study(data)
    frames = study.frames()
    survey = frames.survey if len(frames.survey) else None
    pair_fields = ("conversation_type", "turn", "model_a", "model_b", "language", "source")
    frames_for_by = [f for f in (survey, frames.utterances if len(frames.utterances) else None) if f is not None]
    if by in pair_fields:
        field = by
    else:
        field = resolve_field(by, *frames_for_by) if frames_for_by else by
    survey_cols = None
    if survey is not None:
        survey_cols = [
            c for c in dict.fromkeys([*DEFAULT_SURVEY_COLUMNS, field, *(covariates or [])]) if c in survey.columns
        ]
    pairs = pairs_from_study(
        frames,
        tie_threshold=tie_threshold,
        ties=ties,
        turns=turns,
        survey_columns=survey_cols,
        require_texts=features != "model",
    )
    if features == "model":  # the reward of a response is its model's: Bradley–Terry per group
        pairs = pairs.assign(response_a=pairs["model_a"].astype(str), response_b=pairs["model_b"].astype(str))
        models = sorted(set(pairs["response_a"]) | set(pairs["response_b"]))
        featurizer = make_featurizer("model", categories=models)
    if field not in pairs.columns:
        raise ConfigError(f"unknown field {by!r} for --by: not a survey field or pair field of {data}")
    if field not in pair_fields:  # a participant field: quartiles of participants when numeric and many-valued
        pairs = pairs.assign(**{field: field_by_key(pairs, pairs, "user_id", field)})
    n_users = pairs["user_id"].nunique()
    err_console.print(
        f"{len(pairs):,} preference pairs from {n_users:,} participants "
        f"({pairs.attrs.get('n_ties', 0):,} ties {'dropped' if ties == 'drop' else 'kept as 0.5'}); "
        f"{features} features; {folds}-fold participant-disjoint evaluation by {field}"
    )
    if features == "embedding":
        counts = embed_with_cache(
            pd.concat([pairs["response_a"], pairs["response_b"]], ignore_index=True), data, cache, use_cache
        )
        err_console.print(
            f"embeddings (all-MiniLM-L6-v2) of {counts['texts']:,} distinct responses: "
            f"{counts['cached']:,} cached, {counts['embedded']:,} computed"
        )
    pf = featurize_pairs(pairs, featurizer)
    if model == "reward":
        estimator = RewardModel(alpha=alpha)
    else:
        estimator = PersonalisedRewardModel(covariates=covariates, alpha=alpha)
    with warnings.catch_warnings(), progress_bar(f"{model} models (folds × groups)", None) as advance:
        warnings.simplefilter("ignore", UserWarning)  # dropped groups are reported by the command
        res = cross_group_accuracy(
            pf,
            field,
            model=estimator,
            groups=groups,
            min_participants=min_participants,
            n_splits=folds,
            equalize=equalize,
            n_boot=bootstrap,
            seed=seed,
            progress=advance_to(advance),
            n_jobs=jobs,
        )
    out.mkdir(parents=True, exist_ok=True)
    files = []

    def write(frame, name, index=False):
        path = out / name
        frame.to_csv(path, index=index)
        files.append(path)

    write(res.table.assign(by=field), "cross_group.csv")
    write(res.matrix("accuracy"), "cross_group_accuracy.csv", index=True)
    write(res.matrix("log_loss"), "cross_group_log_loss.csv", index=True)
    res.plot("accuracy", out / "cross_group_accuracy.png")
    files.append(out / "cross_group_accuracy.png")
    weights = None
    if features in ("text", "model") and model == "reward":
        weights = group_weights(
            pf,
            field,
            model=estimator,
            groups=res.groups,
            min_participants=min_participants,
            n_boot=weights_bootstrap,
            seed=seed,
        )
        write(weights, "reward_weights.csv")
    comp = None
    if composition is not None:
        with progress_bar("composition (folds × shares)", None) as advance:
            comp = composition_curve(
                pf,
                field,
                composition[0],
                composition[1],
                shares=shares if shares is not None else (0.0, 0.25, 0.5, 0.75, 1.0),
                model=estimator,
                min_participants=min_participants,
                n_splits=folds,
                n_boot=bootstrap,
                seed=seed,
                progress=advance_to(advance),
            )
        write(comp.table, "composition.csv")
        comp.plot("accuracy", out / "composition.png")
        files.append(out / "composition.png")
    return {"pairs": pairs, "result": res, "weights": weights, "composition": comp, "files": files, "by": field}


def register(app: typer.Typer) -> None:
    """Add this module's commands to the ``pluralis`` Typer app.

    Parameters
    ----------
    app
        the ``pluralis`` Typer app.

    Example
    -------
    >>> app = typer.Typer()
    >>> register(app)
    >>> [c.name for c in app.registered_commands]
    ['learn']
    """

    @app.command("learn")
    @handle_errors
    def learn(
        data: str = typer.Argument(..., help="PRISM folder, parquet folder, store (SQLite file / URL) or CA file"),
        by: str = typer.Option(
            ...,
            "--by",
            "-b",
            help="group field: gender, age, ethnicity, birth_region, conversation_type, or any survey column",
        ),
        out: Path = typer.Option(Path("learn-results"), "--out", "-o", help="folder for the CSV and PNG files"),
        features: str = typer.Option(
            "text",
            "--features",
            "-f",
            help="text (interpretable features) | embedding (all-MiniLM-L6-v2, offline) | model (one per model: "
            "Bradley–Terry per group, for comparisons without texts)",
        ),
        feature_set: str = typer.Option(
            "prism",
            "--feature-set",
            help="text features: prism (App. T.8) | style (the persona simulation's: length, refusal, hedging, lists, stance) | all (prism + hedging, stance)",
        ),
        model: str = typer.Option(
            "reward",
            "--model",
            "-m",
            help="reward (Bradley-Terry) | personalised (weights depend on survey covariates)",
        ),
        covariates: str | None = typer.Option(
            None,
            "--covariates",
            help="personalised model: comma-separated survey fields (default: stated preferences + demographics)",
        ),
        groups: str | None = typer.Option(None, "--groups", "-g", help="comma-separated groups to compare"),
        folds: int = typer.Option(5, "--folds", "-k", min=2, help="participant-disjoint folds"),
        bootstrap: int = typer.Option(200, "--bootstrap", "-n", min=0, help="participant-bootstrap draws for CIs"),
        weights_bootstrap: int = typer.Option(
            0, "--weights-bootstrap", min=0, help="bootstrap refits for the per-group reward-weight CIs"
        ),
        min_participants: int = typer.Option(
            30, "--min-participants", min=1, help="smallest group to keep (smaller ones are left out)"
        ),
        equalize: bool = typer.Option(
            True, "--equalize/--no-equalize", help="train every group on the same number of participants"
        ),
        tie_threshold: float | None = typer.Option(
            None,
            "--tie-threshold",
            "-t",
            help="|score_a - score_b| <= t is a tie (default: the ranking's, 5 points on raw scores)",
        ),
        ties: str = typer.Option("drop", "--ties", help="drop | half (ties count 0.5 each way in training)"),
        turns: str = typer.Option("all", "--turns", help="all (every rated pair) | openers (turn 0 only)"),
        composition: str | None = typer.Option(
            None, "--composition", help="A,B: also train on mixes of A's and B's feedback"
        ),
        shares: str | None = typer.Option(None, "--shares", help="shares of A for --composition, e.g. 0,0.5,1"),
        alpha: float = typer.Option(1.0, "--alpha", min=0.0, help="L2 penalty of the reward weights"),
        seed: int = typer.Option(0, "--seed", help="random seed (folds, subsampling, bootstrap)"),
        cache: str | None = typer.Option(
            None,
            "--cache",
            help="--features embedding: store (SQLite file / URL) caching embeddings; default: DATA if it is a "
            "store, else $PLURALIS_CACHE_DIR/embeddings.sqlite or ~/.cache/pluralis/embeddings.sqlite",
        ),
        no_cache: bool = typer.Option(False, "--no-cache", help="embed every text afresh, store nothing"),
        jobs: int = typer.Option(
            1,
            "--jobs",
            "-j",
            min=0,
            help="processes for the folds × groups fits (0: one per CPU core); pays with many cores and "
            "long fits (each process first imports the scientific stack); the results do not depend on it",
        ),
    ):
        """Train preference models on each group's feedback and evaluate them on every group.

        Example: pluralis learn prism/ --by gender --features text --out results/
        """
        from rich.table import Table

        try:
            share_list = [float(s) for s in (_split(shares) or [])] or None
        except ValueError:
            raise ConfigError(f"--shares must be comma-separated numbers, got {shares!r}") from None
        r = run_learn(
            data,
            by,
            out,
            features=features,
            feature_set=feature_set,
            model=model,
            covariates=_split(covariates),
            groups=_split(groups),
            folds=folds,
            bootstrap=bootstrap,
            weights_bootstrap=weights_bootstrap,
            min_participants=min_participants,
            equalize=equalize,
            tie_threshold=tie_threshold,
            ties=ties,
            turns=turns,
            composition=_split(composition),
            shares=share_list,
            alpha=alpha,
            seed=seed,
            cache=cache,
            use_cache=not no_cache,
            jobs=jobs,
        )
        res = r["result"]
        if res.dropped:
            err_console.print(
                "note: left out (too few participants): " + ", ".join(f"{g} ({n})" for g, n in res.dropped.items())
            )
        if equalize:
            n_eq = res.table["n_train_participants"].iloc[0]
            err_console.print(
                f"note: every training set has {n_eq:.0f} participants (per fold; the smallest group's), "
                "so groups differ in whose feedback, not how much (--no-equalize to use all)"
            )
        t = Table(
            title=f"Pairwise accuracy on held-out participants [95% CI] — rows: trained on, columns: "
            f"evaluated on ({r['by']})",
            header_style="bold",
        )
        t.add_column("trained on")
        t.add_column("participants", justify="right")
        for h in res.groups:
            t.add_column(str(h), justify="right")
        cells = res.table.set_index(["train_group", "eval_group"])
        for g in res.matrix().index:
            row = [str(g), f"{cells.loc[(g, res.groups[0]), 'n_train_participants']:.0f}"]
            for h in res.groups:
                c = cells.loc[(g, h)]
                best = res.matrix().loc[:, h].max() == c["accuracy"]
                text = _fmt(c["accuracy"], c["accuracy_low"], c["accuracy_high"])
                row.append(f"[bold]{text}[/]" if best else text)
            t.add_row(*row)
        console.print(t)
        w = r["weights"]
        if w is not None:
            wt = Table(title=f"Reward weights per group (per unit of feature; {r['by']})", header_style="bold")
            wt.add_column("feature")
            piv = w.pivot(index="feature", columns="group", values="coef")
            piv = piv.reindex(index=list(dict.fromkeys(w["feature"])), columns=list(dict.fromkeys(w["group"])))
            for g in piv.columns:
                wt.add_column(str(g), justify="right")
            for f_, vals in piv.iterrows():
                wt.add_row(str(f_), *[f"{v:+.3f}" for v in vals])
            console.print(wt)
        comp = r["composition"]
        if comp is not None:
            ct = Table(title=f"Composition of feedback: accuracy vs share of {comp.group_a!r}", header_style="bold")
            ct.add_column(f"share of {comp.group_a}")
            piv = comp.table.pivot(index="share_a", columns="eval_group", values="accuracy")
            piv = piv.reindex(columns=list(dict.fromkeys(comp.table["eval_group"])))
            for h in piv.columns:
                ct.add_column(f"on {h}", justify="right")
            for s, vals in piv.iterrows():
                ct.add_row(f"{s:.2f}", *[f"{v:.3f}" for v in vals])
            console.print(ct)
        console.print(f"wrote {', '.join(p.name for p in r['files'])} to {out}")
