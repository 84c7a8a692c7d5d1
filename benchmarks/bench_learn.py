"""Benchmark: fitting preference (reward) models on a PRISM-sized set of pairs.

Run:  .venv/bin/python benchmarks/bench_learn.py              (150,000 pairs; about half a minute)
      .venv/bin/python benchmarks/bench_learn.py --quick      (30,000 pairs)
      .venv/bin/python benchmarks/bench_learn.py --cli        (``pluralis learn --model personalised`` on a
                                                               PRISM-sized study; about 1.5 minutes)

Data: 25,000 prompts x 4 rated responses (every response a distinct text, as in PRISM) from 1,500
participants with survey covariates, scored by a planted linear reward on the response features
(plus noise); all 6 pairs per prompt, exact ties dropped: about 150,000 pairs.

Reports, each against a reference run in the same process:

1. Global reward model with PRISM's interpretable text features (App. T.8): pluralis
   (``featurize_pairs`` — each distinct text once — + ``RewardModel``, matrix-free L-BFGS) vs the
   plain approach: ``response_features`` on both sides of every pair, a pandas design matrix of
   differences, scikit-learn ``LogisticRegression(fit_intercept=False)`` on it. Same objective, so
   the coefficients must agree.
2. Personalised reward model (features x 19 encoded covariates; on the first ``--pers-pairs``
   pairs, 50,000 by default, because the reference is slow): pluralis (never builds the
   outer-product design) vs the explicit ``z ⊗ (φa − φb)`` design + ``LogisticRegression``.

``--cli``: what ``pluralis learn PRISM --model personalised --by gender`` does after reading the files
(:func:`pluralis.cli.learn.run_learn`) on ``generate_study(1500, with_metadata=False)`` written as PRISM
files (53,451 decisive pairs; 5 folds × 3 training groups = 15 fits, each with an inner 5-fold CV over the
global model + 9 penalties), against the reference run in the same process: plain L-BFGS on the
coefficients (``models.PRECONDITION = False``) and the 15 fits one after the other (``jobs=1``). The
tables must agree: the same folds, subsamples and chosen penalties, so the same accuracies; log-losses
equal up to the solver tolerance.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pluralis.features.response import response_features
from pluralis.learn.featurizers import TextFeaturizer
from pluralis.learn.models import PersonalisedRewardModel, RewardModel, featurize_pairs
from pluralis.learn.pairs import preference_pairs
from pluralis.simulate.planted import random_responses

COVARIATES = [
    f"stated_prefs_{a}"
    for a in ("values", "creativity", "fluency", "factuality", "diversity", "safety", "personalisation", "helpfulness")
] + ["gender", "age"]


def make_utterances(n_pairs: int, n_users: int = 1500, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Opening turns with 4 rated responses each (6 pairs per prompt), and a survey frame."""
    rng = np.random.default_rng(seed)
    n_prompts = -(-n_pairs // 6)
    n = 4 * n_prompts
    prompt = np.repeat(np.arange(n_prompts), 4)
    texts = pd.Series(random_responses(n, seed=rng), dtype=object)
    texts = (
        "On topic "
        + pd.Series(prompt.astype(str), dtype=object)
        + "-"
        + pd.Series(np.tile(np.arange(4).astype(str), n_prompts), dtype=object)
        + ": "
        + texts
    )  # every response distinct
    users = rng.integers(0, n_users, n_prompts)
    survey = pd.DataFrame({"user_id": [f"u{i}" for i in range(n_users)]})
    for c in COVARIATES[:8]:
        survey[c] = rng.integers(0, 101, n_users).astype(float)
    survey["gender"] = rng.choice(
        ["Male", "Female", "Non-binary / third gender", "Prefer not to say"], n_users, p=[0.49, 0.49, 0.015, 0.005]
    )
    survey["age"] = rng.choice(
        [
            "18-24 years old",
            "25-34 years old",
            "35-44 years old",
            "45-54 years old",
            "55-64 years old",
            "65+ years old",
            "Prefer not to say",
        ],
        n_users,
    )
    # planted reward on the features, with a slider that changes how much lists are liked
    x = TextFeaturizer().transform(texts)
    w = np.array([0.5, -0.4, 0.3, 0.6, -0.3, -1.5, 0.0])
    slider = (survey["stated_prefs_fluency"].to_numpy()[users] - 50) / 29
    u = x @ w + 0.8 * np.repeat(slider, 4) * x[:, 3] + rng.normal(0, 0.8, n)
    utter = pd.DataFrame(
        {
            "utterance_id": np.arange(n).astype(str),
            "interaction_id": prompt,
            "conversation_id": prompt,
            "user_id": np.repeat(survey["user_id"].to_numpy()[users], 4),
            "turn": 0,
            "conversation_type": "unguided",
            "user_prompt": "Advice?",
            "model_name": np.tile(["m1", "m2", "m3", "m4"], n_prompts),
            "score": np.clip(np.rint(55 + 18 * u), 1, 100).astype(int),
            "model_response": texts.to_numpy(),
        }
    )
    return utter, survey


def reference_global(pairs: pd.DataFrame, alpha: float = 1.0) -> np.ndarray:
    """The plain approach: features of both sides of every pair, pandas differences, scikit-learn."""
    from sklearn.linear_model import LogisticRegression

    fa = response_features(pairs["response_a"])
    fb = response_features(pairs["response_b"])
    fa["text_length"] = np.log1p(fa["text_length"] / 100)
    fb["text_length"] = np.log1p(fb["text_length"] / 100)
    D = fa - fb
    scale = np.sqrt((D**2).mean())
    scale[scale == 0] = 1.0
    lr = LogisticRegression(C=1 / alpha, fit_intercept=False, tol=1e-8, max_iter=1000).fit(D / scale, pairs["y"])
    return lr.coef_[0] / scale.to_numpy()


def reference_personalised(pf, model: PersonalisedRewardModel, alpha: float = 1.0) -> tuple[np.ndarray, float]:
    """The explicit outer-product design ``[D, z ⊗ D]`` + scikit-learn (same objective, same scaling)."""
    from sklearn.linear_model import LogisticRegression

    D = pf.diff() / model.scale_
    Z = model.encoder_.transform(pf.frame)
    t = time.perf_counter()
    X = np.hstack([D, (D[:, :, None] * Z[:, None, :]).reshape(len(D), -1)])
    lr = LogisticRegression(C=1 / alpha, fit_intercept=False, tol=1e-8, max_iter=2000).fit(X, pf.y)
    seconds = time.perf_counter() - t
    d = D.shape[1]
    return np.r_[
        lr.coef_[0, :d] / model.scale_, (lr.coef_[0, d:].reshape(d, -1) / model.scale_[:, None]).ravel()
    ], seconds


def best_of(f, repeat: int):
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = f()
        times.append(time.perf_counter() - t)
    return out, min(times)


def bench_cli(jobs: int | None, repeat: int) -> None:
    """``run_learn(..., model="personalised")`` vs the reference (plain L-BFGS, serial), same process."""
    import os
    import tempfile
    import warnings

    import pluralis.learn.models as models_module
    from pluralis.cli.learn import run_learn
    from pluralis.data import write_prism
    from pluralis.data.synthetic import generate_study

    tmp = Path(tempfile.mkdtemp(prefix="bench_learn_"))
    t = time.perf_counter()
    write_prism(generate_study(1500, with_metadata=False), tmp / "prism")
    print(f"PRISM-sized study written in {time.perf_counter() - t:.1f} s; load average {os.getloadavg()[0]:.2f}")

    def run(precondition: bool, n_jobs: int | None, name: str):
        models_module.PRECONDITION = precondition
        best = None
        for _ in range(repeat):
            t, c = time.perf_counter(), time.process_time()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                r = run_learn(
                    str(tmp / "prism"), "gender", tmp / name, model="personalised", bootstrap=200, jobs=n_jobs
                )
            wall, cpu = time.perf_counter() - t, time.process_time() - c
            best = (wall, cpu, r) if best is None or wall < best[0] else best
        return best

    ref_wall, ref_cpu, ref = run(False, 1, "reference")
    wall, cpu, new = run(True, jobs, "pluralis")
    models_module.PRECONDITION = True
    a, b = ref["result"].table, new["result"].table
    same_acc = np.array_equal(a["accuracy"].to_numpy(), b["accuracy"].to_numpy())
    ll = float(np.abs(a["log_loss"].to_numpy() - b["log_loss"].to_numpy()).max())
    n = len(new["pairs"])
    print(f"\npluralis learn --model personalised --by gender ({n:,} pairs; read, pair, featurise, 15 fits, write)")
    print(f"   reference: plain L-BFGS, fits one after the other   {ref_wall:7.2f} s wall  {ref_cpu:6.2f} s CPU")
    print(
        f"   pluralis: preconditioned L-BFGS, --jobs {jobs}{'':>10}{wall:7.2f} s wall  {cpu:6.2f} s CPU (this process)"
    )
    print(f"   ratio {ref_wall / wall:.1f}x   accuracies identical: {same_acc}   max |log-loss difference| {ll:.1e}")
    print(f"   load average now {os.getloadavg()[0]:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=150_000)
    ap.add_argument("--quick", action="store_true", help="30,000 pairs")
    ap.add_argument(
        "--pers-pairs",
        type=int,
        default=50_000,
        help="pairs (of whole participants) for the personalised comparison; its reference is slow",
    )
    ap.add_argument("--repeat", type=int, default=2, help="best of this many runs for each timing")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cli", action="store_true", help="pluralis learn --model personalised on a PRISM-sized study")
    ap.add_argument("--jobs", type=int, default=1, help="--cli: processes for the fits (0: one per core)")
    args = ap.parse_args()
    if args.cli:
        bench_cli(args.jobs, max(1, args.repeat - 1))
        return
    n_pairs = 30_000 if args.quick else args.pairs
    print(f"python {platform.python_version()}, numpy {np.__version__}, {platform.machine()}")

    t = time.perf_counter()
    utter, survey = make_utterances(n_pairs, seed=args.seed)
    print(
        f"data: {len(utter):,} rated responses, {utter['user_id'].nunique():,} participants "
        f"(generated in {time.perf_counter() - t:.1f} s)"
    )
    pairs, t_pairs = best_of(lambda: preference_pairs(utter, survey, tie_threshold=0, survey_columns=COVARIATES), 1)
    print(f"preference_pairs: {len(pairs):,} pairs ({pairs.attrs['n_ties']:,} exact ties dropped) in {t_pairs:.2f} s")

    # 1. global reward model, text features
    def ours_global():
        pf = featurize_pairs(pairs, TextFeaturizer())
        return RewardModel().fit(pf)

    model, t_ours = best_of(ours_global, args.repeat)
    ref_coef, t_ref = best_of(lambda: reference_global(pairs), args.repeat)
    diff = float(np.abs(model.coef_ - ref_coef).max())
    print("\n1. global reward model (7 PRISM text features)")
    print(f"   pluralis: featurise distinct texts + L-BFGS          {t_ours:7.2f} s  ({model.n_iter_} iterations)")
    print(f"   reference: per-pair features + pandas + sklearn LR   {t_ref:7.2f} s")
    print(f"   ratio {t_ref / t_ours:.1f}x   max |coef difference| {diff:.1e}")
    print("   weights:", ", ".join(f"{k} {v:+.3f}" for k, v in model.coefficients().items()))

    # 2. personalised model, on the pairs of the first participants (the explicit design is large)
    pf = featurize_pairs(pairs, TextFeaturizer())
    if len(pf) > args.pers_pairs:
        codes = pd.factorize(pf.frame["user_id"])[0]
        order = np.sort(codes)
        cut = order[min(args.pers_pairs, len(order)) - 1]
        pf = pf.take(codes <= cut)
    pers, t_pers = best_of(
        lambda: PersonalisedRewardModel(covariates=COVARIATES, alpha_covariates=1.0).fit(pf), args.repeat
    )
    (ref_p, t_ref_p) = min((reference_personalised(pf, pers) for _ in range(args.repeat)), key=lambda r: r[1])
    ours_p = np.r_[pers.coef_, pers.interaction_coef_.ravel()]
    k = len(pers.covariate_names_)
    print(
        f"\n2. personalised reward model ({len(pf):,} pairs of {pf.frame['user_id'].nunique():,} participants; "
        f"7 features x {k} encoded covariates = {7 * (1 + k)} coefficients)"
    )
    print(f"   pluralis: matrix-free L-BFGS                          {t_pers:7.2f} s  ({pers.n_iter_} iterations)")
    print(f"   reference: explicit outer-product design + sklearn LR {t_ref_p:7.2f} s")
    print(f"   ratio {t_ref_p / t_pers:.1f}x   max |coef difference| {np.abs(ours_p - ref_p).max():.1e}")
    enum = list(pers.feature_names_in_).index("if_enumeration")
    fl = list(pers.covariate_names_).index("stated_prefs_fluency")
    ref_ = list(pers.feature_names_in_).index("if_refusal")
    ratio = pers.interaction_coef_[enum, fl] / pers.coef_[ref_]
    print(
        f"   planted (utility scale): lists x fluency slider +0.8 per SD, refusal -1.5 (ratio {0.8 / -1.5:+.2f}); "
        f"recovered (logit scale) {pers.interaction_coef_[enum, fl]:+.3f} and {pers.coef_[ref_]:+.3f} "
        f"(ratio {ratio:+.2f})"
    )


if __name__ == "__main__":
    main()
