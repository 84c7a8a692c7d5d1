"""Welfare analysis (PRISM App. U) on a PRISM-sized study: the whole default grid.

7 schemes x 4 populations x 2 measures x 1,000 draws, from utterances to tables, with the
vectorised engine; target (welfare issue): <= 2 s on 2 cores. The reference is the same analysis
as a plain pandas loop (``engine="reference"``: per draw ``W.reindex(sample).mean()`` and
``random.choice`` among the arg-max models, as PRISM's notebook 11b), run in the same process.
Also times census raking and post-stratification helpers.

    .venv/bin/python benchmarks/bench_welfare.py [--participants 1500] [--draws 1000] [--ref-draws 1000]

``--ref-draws`` below ``--draws`` runs the reference loop on fewer draws and scales its time
linearly (it is linear in the number of draws); the ratio line says so.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from pluralis.census.weights import census_weights
from pluralis.data.synthetic import generate_study
from pluralis.welfare.engine import WelfareConfig, run_welfare

TARGET_SECONDS = 2.0


def best_of(k: int, fn):
    times, out = [], None
    for _ in range(k):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--participants", type=int, default=1500)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--ref-draws", type=int, default=1000)
    parser.add_argument("--country", default="US")
    args = parser.parse_args()

    study = generate_study(args.participants, seed=0, with_metadata=False)
    f = study.frames()
    n_open = int((f.utterances["turn"] == 0).sum())
    n_rep = int(f.survey[f"included_in_{args.country}_REP"].sum())
    print(
        f"study: {len(f.survey):,} participants, {len(f.utterances):,} utterances ({n_open:,} openers); "
        f"{args.country}-REP sample {n_rep}"
    )

    grid = WelfareConfig(country=args.country, n_draws=args.draws, seed=1)
    t_fast, res = best_of(3, lambda: run_welfare(f.utterances, f.survey, config=grid))
    n_cells = len(res.summary)
    print(
        f"pluralis (vectorised): default grid {n_cells} cells x {args.draws} draws = "
        f"{n_cells * args.draws:,} draws in {t_fast:.3f} s (target <= {TARGET_SECONDS} s: "
        f"{'OK' if t_fast <= TARGET_SECONDS else 'MISSED'})"
    )
    se = res.summary["mean_se"] * np.where(res.summary["measure"] == "rating", 1.0, 100.0)
    print(
        f"Monte-Carlo s.e. of the mean welfare over {args.draws} draws (rating points / choice pp): "
        f"median {np.median(se):.3f}, max {se.max():.3f}; scale {res.config['scale']} ({res.config['scale_source']})"
    )
    t_imp, _ = best_of(1, lambda: run_welfare(f.utterances, f.survey, config=grid, impute=True))
    print(f"pluralis with imputation (IterativeImputer on the full matrices): {t_imp:.3f} s")

    t_ref, ref = best_of(
        1, lambda: run_welfare(f.utterances, f.survey, config=grid, engine="reference", n_draws=args.ref_draws)
    )
    scale = args.draws / args.ref_draws
    t_ref_full = t_ref * scale
    note = "" if scale == 1 else f" (measured {t_ref:.2f} s on {args.ref_draws} draws, scaled x{scale:g})"
    print(f"reference (pandas loop per draw, Python random): {t_ref_full:.2f} s{note}")
    print(f"ratio reference / pluralis: {t_ref_full / t_fast:.1f}x")

    a = res.summary.set_index(["measure", "population", "scheme"])["mean"]
    b = ref.summary.set_index(["measure", "population", "scheme"])["mean"]
    scale_w = np.where(a.index.get_level_values(0) == "rating", 1.0, 100.0)
    diff = np.abs((a - b.reindex(a.index)).to_numpy() * scale_w)
    print(
        f"agreement of mean welfare, fast vs reference (rating points / choice pp): "
        f"median {np.median(diff):.2f}, max {diff.max():.2f}"
    )

    us = f.survey[f.survey["study_locale"] == args.country.lower()]
    t_rake, w = best_of(5, lambda: census_weights(us, args.country, on_empty="renormalise"))
    print(
        f"census raking of {len(us)} participants: {1000 * t_rake:.1f} ms "
        f"({w.iterations} sweeps, max margin error {w.max_margin_error:.1e})"
    )


if __name__ == "__main__":
    main()
