"""Experiments as files: a design grid of aligners × labels × disagreement × training group × candidates.

``pluralis align run experiment.toml`` (:func:`run_experiment`) builds the preference data, trains
(or prepares) every cell's aligned model, evaluates it against the base model for every evaluation
group (:mod:`pluralis.align.evaluate`, judges = held-out participants' group reward models) and writes

* ``cells/<cell>/`` — the cell's data settings, model folder, evaluation files and ``done.json``;
* ``grid.csv`` — every cell's gains by evaluation group (with the cell's design columns);
* ``matrix_<design>.csv`` / ``.png`` — trained-on × evaluated-by gains, one per design;
* ``grid.png`` — the design grid; ``report_section.md`` — these as a report section.

A finished cell (``done.json``) is skipped when the experiment is run again, so an interrupted run
resumes where it stopped (an unfinished cell is redone from scratch). Under ``accelerate launch``
(several GPUs) training is distributed by TRL/accelerate; the evaluation and the files are done by the
main process only.

The file (TOML; see ``EXAMPLE``)::

    name = "whose-gain"
    seed = 0
    device = "auto"                 # cpu | cuda | auto (bf16 on GPUs that support it)

    [data]
    study = "data/prism"            # any source pluralis.data.load_study reads; or
    # planted = {participants = 40, pairs = 6}            the planted question preference (simulation)
    # personas = {n = 200, prompts = 12, k = 4, model = "simulated"}   persona raters of generated candidates
    by = "gender"                   # the participant field groups are defined on
    eval_fraction = 0.3
    turns = "all"

    [base]
    model = "smollm2"

    [grid]
    aligner = ["dpo", "best_of_n"]
    labels = ["binary", "graded"]
    disagreement = ["keep", "majority"]
    train = ["gender=Female", "gender=Male", "gender=Female:0.7+gender=Male:0.3"]
    candidates = ["dataset"]        # personas data: "standard" and/or "nc"
    total = 200                     # training pairs of a mixture (fixed size)

    [aligners.dpo]                  # options of each aligner (pluralis.align.registry)
    steps = 20

    [eval]
    n_prompts = 20
    max_tokens = 64
    n_boot = 200

Example
-------
>>> exp = parse_experiment(EXAMPLE)
>>> [c.slug for c in experiment_cells(exp)][:2]
['best_of_n__binary__keep__group-A__dataset', 'best_of_n__binary__keep__group-B__dataset']
"""

from __future__ import annotations

import itertools
import json
import shutil
import time
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pluralis.errors import ConfigError

#: A small planted experiment (runs on a CPU in minutes with the bundled SmolLM2).
EXAMPLE = """
name = "planted-question"
seed = 0
device = "cpu"

[data]
planted = {participants = 24, pairs = 4}
by = "group"
eval_fraction = 0.5

[base]
model = "smollm2"

[grid]
aligner = ["best_of_n", "dpo"]
labels = ["binary"]
disagreement = ["keep"]
train = ["group=A", "group=B"]

[aligners.dpo]
steps = 2
batch_size = 2
learning_rate = 0.002
max_length = 96

[aligners.best_of_n]
n = 4
max_tokens = 32

[eval]
n_prompts = 4
max_tokens = 32
n_boot = 50
"""

_TOP = {"name", "seed", "device", "data", "base", "grid", "aligners", "eval", "out"}
_DATA = {"study", "planted", "personas", "by", "eval_fraction", "turns", "source", "context", "tie_threshold"}
_GRID = {"aligner", "labels", "disagreement", "train", "candidates", "total"}
_EVAL = {"groups", "n_prompts", "max_tokens", "temperature", "n_boot", "level", "features"}


@dataclass
class Experiment:
    """A parsed experiment file (see the module docstring).

    Example
    -------
    >>> parse_experiment(EXAMPLE).grid["aligner"]
    ['best_of_n', 'dpo']
    """

    name: str
    data: dict
    grid: dict
    base: str = "smollm2"
    aligners: dict = field(default_factory=dict)
    eval: dict = field(default_factory=dict)
    seed: int = 0
    device: str = "auto"
    out: str | None = None
    source: str = "<string>"


@dataclass(frozen=True)
class Cell:
    """One design cell.

    Example
    -------
    >>> Cell("dpo", "binary", "keep", "gender=Female", "dataset").slug
    'dpo__binary__keep__gender-Female__dataset'
    """

    aligner: str
    labels: str
    disagreement: str
    train: str
    candidates: str

    @property
    def slug(self) -> str:
        t = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in self.train.replace("=", "-"))
        return f"{self.aligner}__{self.labels}__{self.disagreement}__{t}__{self.candidates}"

    @property
    def design(self) -> str:
        """The cell without its training group (cells of one design form a trained-on × evaluated-by matrix)."""
        return f"{self.aligner}/{self.labels}/{self.disagreement}/{self.candidates}"


def _fail(source: str, what: str) -> ConfigError:
    return ConfigError(f"{source}: {what}")


def parse_experiment(text: str, *, source: str = "<string>") -> Experiment:
    """Parse and check an experiment TOML text (errors name the file and the field).

    Parameters
    ----------
    text : str
        The experiment's TOML text.
    source : str
        The file's name, used in error messages (default ``"<string>"``).

    Returns
    -------
    Experiment
        The validated experiment.

    Example
    -------
    >>> parse_experiment('name = "x"\\n[data]\\nplanted = {}\\nby = "group"\\n[grid]\\naligner = ["dqo"]')
    Traceback (most recent call last):
    ...
    pluralis.errors.ConfigError: <string>: grid.aligner: unknown aligner 'dqo'; available: best_of_n, dpo, grpo
    """
    from pluralis.align.pairs import DISAGREEMENT, LABELS, parse_group, parse_mixture
    from pluralis.align.registry import aligner_options, available_aligners

    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise _fail(source, f"invalid TOML: {e}") from None
    for key, allowed in (("", _TOP), ("data", _DATA), ("grid", _GRID), ("eval", _EVAL)):
        part = raw if not key else raw.get(key, {})
        if not isinstance(part, dict):
            raise _fail(source, f"{key} must be a table")
        unknown = sorted(set(part) - allowed)
        if unknown:
            where = f"{key}." if key else ""
            raise _fail(source, f"unknown field(s) {', '.join(where + u for u in unknown)}")
    data = dict(raw.get("data", {}))
    kinds = [k for k in ("study", "planted", "personas") if k in data]
    if len(kinds) != 1:
        raise _fail(source, "data: give exactly one of study, planted, personas")
    if "by" not in data:
        raise _fail(source, "data.by: required (the participant field groups are defined on)")
    grid = {k: v for k, v in raw.get("grid", {}).items()}
    for key, default in (
        ("aligner", ["dpo"]),
        ("labels", ["binary"]),
        ("disagreement", ["keep"]),
        ("candidates", ["standard"] if kinds[0] == "personas" else ["dataset"]),
    ):
        v = grid.get(key, default)
        grid[key] = [v] if isinstance(v, str) else list(v)
    known = available_aligners()
    for a in grid["aligner"]:
        if a.replace("-", "_") not in known:
            raise _fail(source, f"grid.aligner: unknown aligner {a!r}; available: {', '.join(sorted(known))}")
    grid["aligner"] = [a.replace("-", "_") for a in grid["aligner"]]
    for key, allowed_values in (("labels", LABELS), ("disagreement", DISAGREEMENT)):
        bad = [v for v in grid[key] if v not in allowed_values]
        if bad:
            raise _fail(source, f"grid.{key}: unknown value(s) {bad}; use {', '.join(allowed_values)}")
    allowed_c = ("standard", "nc") if kinds[0] == "personas" else ("dataset",)
    bad = [v for v in grid["candidates"] if v not in allowed_c]
    if bad:
        raise _fail(source, f"grid.candidates: {bad} not possible with data.{kinds[0]}; use {', '.join(allowed_c)}")
    train = grid.get("train")
    if not train:
        raise _fail(source, 'grid.train: give the training groups (e.g. ["gender=Female", "gender=Male"])')
    grid["train"] = [train] if isinstance(train, str) else list(train)
    for t in grid["train"]:
        try:
            parse_mixture(t.split("+")) if ":" in t else parse_group(t)
        except ConfigError as e:
            raise _fail(source, f"grid.train: {e}") from None
    aligners = raw.get("aligners", {})
    for name, opts in aligners.items():
        if name.replace("-", "_") not in known:
            raise _fail(source, f"aligners.{name}: unknown aligner")
        unknown = sorted(set(opts) - set(aligner_options(name.replace("-", "_"))))
        if unknown:
            raise _fail(source, f"aligners.{name}: unknown option(s) {unknown}")
    base = raw.get("base", {})
    return Experiment(
        name=str(raw.get("name", "experiment")),
        data=data,
        grid=grid,
        base=str(base.get("model", "smollm2")) if isinstance(base, dict) else str(base),
        aligners={k.replace("-", "_"): dict(v) for k, v in aligners.items()},
        eval=dict(raw.get("eval", {})),
        seed=int(raw.get("seed", 0)),
        device=str(raw.get("device", "auto")),
        out=raw.get("out"),
        source=source,
    )


def load_experiment(path: str | Path) -> Experiment:
    """Read an experiment TOML file (relative data paths are taken from the file's folder).

    Parameters
    ----------
    path : str or pathlib.Path
        The experiment file.

    Returns
    -------
    Experiment
        The validated experiment.

    Example
    -------
    >>> import tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "e.toml"
    >>> _ = f.write_text(EXAMPLE)
    >>> load_experiment(f).name
    'planted-question'
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(f"{path}: cannot read ({e})") from None
    exp = parse_experiment(text, source=str(path))
    study = exp.data.get("study")
    if study and "://" not in str(study) and not Path(study).is_absolute():
        exp.data["study"] = str((path.parent / study).resolve())
    return exp


def experiment_cells(exp: Experiment) -> list[Cell]:
    """Every design cell, in a fixed order (aligner, labels, disagreement, training group, candidates).

    Parameters
    ----------
    exp : Experiment
        The experiment.

    Returns
    -------
    list of Cell
        One cell per combination of the design's factors.

    Example
    -------
    >>> len(experiment_cells(parse_experiment(EXAMPLE)))
    4
    """
    g = exp.grid
    return [
        Cell(*c) for c in itertools.product(g["aligner"], g["labels"], g["disagreement"], g["train"], g["candidates"])
    ]


# --- data ----------------------------------------------------------------------------------------------------


def _iw_group(frame: pd.DataFrame) -> np.ndarray:
    iw = frame[["secular", "self_expression"]].to_numpy(dtype=float).mean(axis=1)
    return np.where(iw > 0, "secular-self-expressive", "traditional-survival")


def experiment_pairs(exp: Experiment, candidates: str) -> pd.DataFrame:
    """The experiment's oriented pairs (:func:`pluralis.align.pairs.study_pairs` shape) for a candidates design.

    ``personas`` data: candidates generated by ``standard`` or ``nc`` sampling from ``data.personas.model``
    (``"simulated"``: :class:`pluralis.align.candidates.SimulatedCandidateModel`; else ``URL#name`` of an
    OpenAI-compatible server), chosen among by personas; ``by`` may be ``iw`` (secular-self-expressive vs
    traditional-survival), ``country`` or ``gender``.

    Parameters
    ----------
    exp : Experiment
        The experiment (its ``data`` section).
    candidates : str
        The candidates design (``"standard"`` or ``"nc"``; used with ``personas`` data).

    Returns
    -------
    pandas.DataFrame
        Oriented pairs, one per judgement.

    Example
    -------
    >>> p = experiment_pairs(parse_experiment(EXAMPLE), "dataset")
    >>> sorted(p["group"].unique())
    ['A', 'B']
    """
    from pluralis.align.pairs import orient_pairs, study_pairs

    d = exp.data
    if "planted" in d:
        from pluralis.align.planted import planted_question_pairs

        opts = dict(d["planted"])
        return planted_question_pairs(
            int(opts.get("participants", 40)),
            int(opts.get("pairs", 6)),
            noise=float(opts.get("noise", 0.05)),
            seed=exp.seed,
        )
    if "personas" in d:
        from pluralis.align.candidates import (
            VALUE_PROMPTS,
            SimulatedCandidateModel,
            candidate_sets,
            choice_pairs,
            persona_choices,
        )
        from pluralis.simulate.generator import generate_personas

        opts = dict(d["personas"])
        ref = str(opts.get("model", "simulated"))
        if ref == "simulated":
            model: Any = SimulatedCandidateModel(seed=exp.seed)
        else:
            from pluralis.llm.types import ModelSpec

            url, _, name = ref.partition("#")
            model = ModelSpec(name=name or "model", base_url=url, system_prompt=None)
        people = generate_personas(int(opts.get("n", 200)), seed=exp.seed).data
        prompts = list(VALUE_PROMPTS)[: int(opts.get("prompts", len(VALUE_PROMPTS)))]
        cands = candidate_sets(model, prompts, k=int(opts.get("k", 4)), sampling=candidates)
        choices = persona_choices(cands, people, seed=exp.seed)
        choices["iw"] = _iw_group(choices)
        raw = choice_pairs(choices)
        raw["iw"] = (
            choices.drop_duplicates("annotator_id")
            .set_index("annotator_id")["iw"]
            .reindex(raw["user_id"].astype(str))
            .to_numpy()
        )
        return orient_pairs(raw, source=f"personas-{candidates}")
    from pluralis.data import load_study
    from pluralis.learn.pairs import DEFAULT_SURVEY_COLUMNS

    study = load_study(d["study"])
    frames = study.frames()
    cols = None
    if len(frames.survey):
        cols = [c for c in dict.fromkeys([*DEFAULT_SURVEY_COLUMNS, d["by"]]) if c in frames.survey.columns]
    return study_pairs(
        frames,
        source=d.get("source", "auto"),
        tie_threshold=d.get("tie_threshold"),
        turns=d.get("turns", "all"),
        context=d.get("context", "conversation"),
        survey_columns=cols,
    )


def _cell_data(exp: Experiment, cell: Cell, pairs: pd.DataFrame):
    from pluralis.align.pairs import build_preference_data

    kw: dict[str, Any] = {}
    if ":" in cell.train:
        kw["mixture"] = cell.train.split("+")
        kw["total"] = exp.grid.get("total")
    else:
        kw["group"] = cell.train
    return build_preference_data(
        None,
        pairs=pairs,
        labels=cell.labels,  # type: ignore[arg-type]
        disagreement=cell.disagreement,  # type: ignore[arg-type]
        eval_fraction=float(exp.data.get("eval_fraction", 0.3)),
        seed=exp.seed,
        strata=exp.data["by"],
        **kw,
    )


def _main_process() -> bool:
    try:
        from accelerate import PartialState

        return bool(PartialState().is_main_process)
    except ImportError:
        return True


# --- the grid -------------------------------------------------------------------------------------------------


@dataclass
class GridResult:
    """Every cell's gains (``table``) and the files written.

    Example
    -------
    >>> GridResult(pd.DataFrame(), {}).table.empty
    True
    """

    table: pd.DataFrame
    files: dict[str, Path]
    skipped: list[str] = field(default_factory=list)


def run_experiment(
    exp: Experiment,
    out: str | Path | None = None,
    *,
    device: str | None = None,
    resume: bool = True,
    progress: Callable[[str, int, int], None] | None = None,
) -> GridResult:
    """Run every cell of ``exp`` (see the module docstring); ``progress(message, done, total)`` reports.

    Parameters
    ----------
    exp : Experiment
        The experiment.
    out : str or pathlib.Path, optional
        Output folder (default: the experiment's ``out``, else ``runs/<name>``).
    device : str, optional
        Training and generation device (default: the experiment's, else automatic).
    resume : bool
        Reuse the results of cells already finished in ``out`` (default True).
    progress : callable, optional
        Called as ``progress(message, done, total)``.

    Returns
    -------
    GridResult
        The grid table and the files written.

    Example
    -------
    >>> # run_experiment(load_experiment("experiment.toml"), "runs/exp", device="cuda")
    """
    from pluralis.align.evaluate import Generator, heldout_prompts, judge_with_reward_models
    from pluralis.align.pairs import build_preference_data
    from pluralis.align.registry import get_aligner

    root = Path(out or exp.out or f"runs/{exp.name}")
    root.mkdir(parents=True, exist_ok=True)
    dev = device or exp.device
    cells = experiment_cells(exp)
    ev = {"n_prompts": 20, "max_tokens": 64, "temperature": 0.0, "n_boot": 200, "level": 0.95, **exp.eval}
    main = _main_process()
    if main:
        (root / "experiment.json").write_text(json.dumps(exp.__dict__, indent=2, default=str))
    report = progress or (lambda msg, i, n: None)
    generator = Generator(device=dev)
    by = exp.data["by"]
    cache: dict[str, Any] = {}
    rows, skipped = [], []
    for i, cell in enumerate(cells):
        cdir = root / "cells" / cell.slug
        done = cdir / "done.json"
        if resume and done.is_file():
            rows.append(pd.read_csv(cdir / "eval" / "gains.csv").assign(**_cell_columns(cell)))
            skipped.append(cell.slug)
            report(f"{cell.slug}: done earlier", i + 1, len(cells))
            continue
        if main and cdir.exists():
            shutil.rmtree(cdir)  # an unfinished cell is redone from scratch
        report(f"{cell.slug}: data", i, len(cells))
        if cell.candidates not in cache:
            pairs = experiment_pairs(exp, cell.candidates)
            full = build_preference_data(
                None, pairs=pairs, eval_fraction=float(exp.data.get("eval_fraction", 0.3)), seed=exp.seed, strata=by
            )
            prompts = heldout_prompts(full, int(ev["n_prompts"]), seed=exp.seed)
            saved = root / f"base_answers_{cell.candidates}.json"  # kept across resumed runs
            key = {
                "base": exp.base,
                "prompts": prompts,
                "max_tokens": ev["max_tokens"],
                "temperature": ev["temperature"],
            }
            old = json.loads(saved.read_text()) if saved.is_file() else {}
            if old.get("key") == json.loads(json.dumps(key)):
                base_answers = old["answers"]
            else:
                base_answers = generator.answers(
                    exp.base,
                    prompts,
                    max_tokens=int(ev["max_tokens"]),
                    temperature=float(ev["temperature"]),
                    seed=exp.seed,
                )
                if main:
                    saved.write_text(json.dumps({"key": key, "answers": base_answers}))
            cache[cell.candidates] = (pairs, full, prompts, base_answers)
        pairs, full, prompts, base_answers = cache[cell.candidates]
        data = _cell_data(exp, cell, pairs)
        report(f"{cell.slug}: {cell.aligner} on {len(data.train)} pairs", i, len(cells))
        opts = {"base_model": exp.base, "device": dev, **exp.aligners.get(cell.aligner, {})}
        if cell.aligner in ("dpo", "grpo"):
            opts.setdefault("seed", exp.seed)
        model = get_aligner(cell.aligner, **opts).fit(data.train, cdir / "model", data_settings=data.settings)
        if not main:
            continue
        report(f"{cell.slug}: evaluating", i, len(cells))
        answers = {
            "base": base_answers,
            cell.slug: generator.answers(
                str(model.path),
                prompts,
                max_tokens=int(ev["max_tokens"]),
                temperature=float(ev["temperature"]),
                seed=exp.seed,
            ),
        }
        res = judge_with_reward_models(
            answers,
            prompts,
            full,
            by=by,
            groups=ev.get("groups"),
            trained_on={cell.slug: cell.train},
            features=ev.get("features", "text"),
            n_boot=int(ev["n_boot"]),
            level=float(ev["level"]),
            seed=exp.seed,
        )
        res.write(cdir / "eval", plots=False)
        rows.append(res.table.assign(**_cell_columns(cell)))
        done.write_text(json.dumps({"cell": cell.slug, "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}))
        report(f"{cell.slug}: done", i + 1, len(cells))
    table = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
    files = write_grid(table, root) if (main and len(table)) else {}
    return GridResult(table, files, skipped)


def _cell_columns(cell: Cell) -> dict[str, str]:
    return {
        "cell": cell.slug,
        "design": cell.design,
        "aligner": cell.aligner,
        "labels": cell.labels,
        "disagreement": cell.disagreement,
        "train": cell.train,
        "candidates": cell.candidates,
    }


def write_grid(table: pd.DataFrame, root: str | Path) -> dict[str, Path]:
    """``grid.csv``, per-design matrices (CSV, PNG), ``grid.png`` and ``report_section.md`` under ``root``.

    Parameters
    ----------
    table : pandas.DataFrame
        The grid table (one row per cell, model and evaluation group).
    root : str or pathlib.Path
        The output folder.

    Returns
    -------
    dict of str to pathlib.Path
        Name -> the file written.

    Example
    -------
    >>> import tempfile
    >>> t = pd.DataFrame({"model": ["c1", "c2"], "trained_on": ["A", "B"], "eval_group": ["A", "A"],
    ...     "judge": "reward", "win_rate": [0.6, 0.4], "gain_pp": [10.0, -10.0], "gain_low": [2.0, -18.0],
    ...     "gain_high": [18.0, -2.0], "cell": ["c1", "c2"], "design": "dpo/binary/keep/dataset", "train": ["A", "B"]})
    >>> sorted(write_grid(t, tempfile.mkdtemp()))[:3]
    ['grid', 'grid_plot', 'matrix_dpo-binary-keep-dataset']
    """
    from pluralis.align.evaluate import EvalResult
    from pluralis.align.plots import plot_grid

    root = Path(root)
    files = {"grid": root / "grid.csv"}
    table.to_csv(files["grid"], index=False)
    files["grid_plot"] = root / "grid.png"
    plot_grid(table.assign(cell=table["cell"]), files["grid_plot"])
    lines = [
        "## Alignment experiment: whose gain?",
        "",
        "Gain = win rate against the base model − 50 %, in percentage points, judged by each evaluation group's "
        "held-out participants (their group reward model); 95 % intervals from a bootstrap over participants "
        "and prompts.",
        "",
    ]
    for design, part in table.groupby("design", sort=False):
        slug = str(design).replace("/", "-")
        res = EvalResult(part.assign(model=part["train"]), by="group")
        m = res.matrix()
        files[f"matrix_{slug}"] = root / f"matrix_{slug}.csv"
        m.to_csv(files[f"matrix_{slug}"])
        files[f"matrix_{slug}_plot"] = root / f"matrix_{slug}.png"
        res.plot(files[f"matrix_{slug}_plot"], title=f"{design}: gain over base (pp)")
        lines += [f"### {design}", "", _markdown(m.round(1)), "", f"![{design}](matrix_{slug}.png)", ""]
    lines += ["### Design grid", "", "![grid](grid.png)", ""]
    files["report"] = root / "report_section.md"
    files["report"].write_text("\n".join(lines))
    return files


def _markdown(frame: pd.DataFrame) -> str:
    cols = [str(frame.index.name or "")] + [str(c) for c in frame.columns]
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for idx, row in frame.iterrows():
        out.append("| " + " | ".join([str(idx)] + [f"{v:+.1f}" if pd.notna(v) else "–" for v in row]) + " |")
    return "\n".join(out)


def grid_summary(table: pd.DataFrame, *, judge: str = "reward") -> pd.DataFrame:
    """Mean gain on the training group's own evaluation group vs on the others, per design.

    Parameters
    ----------
    table : pandas.DataFrame
        The grid table.
    judge : str
        Which judge's gains to summarise (default ``"reward"``).

    Returns
    -------
    pandas.DataFrame
        One row per design, with the own-group and other-group mean gains.

    Example
    -------
    >>> t = pd.DataFrame({"design": "d", "train": ["group=A", "group=B"], "eval_group": ["A", "A"],
    ...                   "judge": "reward", "gain_pp": [8.0, -6.0]})
    >>> grid_summary(t)[["design", "own", "other"]].values.tolist()
    [['d', 8.0, -6.0]]
    """
    t = table[table["judge"] == judge]
    own = t.apply(lambda r: str(r["train"]).split("=", 1)[-1] == str(r["eval_group"]), axis=1)
    out = (
        t.assign(own=own)
        .groupby(["design", "own"])["gain_pp"]
        .mean()
        .unstack("own")
        .rename(columns={True: "own", False: "other"})
    )
    return out.reindex(columns=["own", "other"]).reset_index()


def experiment_text(mapping: Mapping[str, Any]) -> str:
    """An experiment file's text from a dict (for programs that write experiments).

    Parameters
    ----------
    mapping : mapping of str to Any
        The experiment's sections and settings.

    Returns
    -------
    str
        TOML text that :func:`parse_experiment` reads back.

    Example
    -------
    >>> "aligner" in experiment_text({"name": "x", "grid": {"aligner": ["dpo"]}})
    True
    """
    lines: list[str] = []
    tables = {k: v for k, v in mapping.items() if isinstance(v, dict)}
    for k, v in mapping.items():
        if not isinstance(v, dict):
            lines.append(f"{k} = {json.dumps(v)}")
    for name, t in tables.items():
        sub = {k: v for k, v in t.items() if isinstance(v, dict) and k not in ("planted", "personas")}
        lines.append(f"\n[{name}]")
        for k, v in t.items():
            if k in sub:
                continue
            if isinstance(v, dict):
                inner = ", ".join(f"{a} = {json.dumps(b)}" for a, b in v.items())
                lines.append(f"{k} = {{{inner}}}")
            else:
                lines.append(f"{k} = {json.dumps(v)}")
        for k, v in sub.items():
            lines.append(f"\n[{name}.{k}]")
            lines += [f"{a} = {json.dumps(b)}" for a, b in v.items()]
    return "\n".join(lines) + "\n"
