"""Benchmark: census-grounded persona generation (target: 1 M personas <= 10 s, census margins within 0.5 pp TVD),
and the simulated study of the demo (600 personas through the PRISM protocol).

    .venv/bin/python benchmarks/bench_personas.py            # 1 M personas, default executor + serial
    .venv/bin/python benchmarks/bench_personas.py --ray      # also on Ray (local, all CPUs)
    .venv/bin/python benchmarks/bench_personas.py -n 200000  # smaller

The reference is a straightforward row-by-row generator (the same model, one persona at a time with
``numpy.random.Generator.choice`` per field), run in the same process on a sample and scaled per persona.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def reference_generate(n: int, country: str = "US", seed: int = 0) -> list[dict]:
    """Row-by-row reference: one persona at a time (census cell, conditional fields, Big Five, values)."""
    from pluralis.census import tables
    from pluralis.simulate.generator import AGE_SLOPE, BIG_FIVE_CORR, FEMALE_SHIFT

    rng = np.random.default_rng(seed)
    cells = tables.census_cells(country)
    L = np.linalg.cholesky(BIG_FIVE_CORR)
    samplers = {f: tables.conditional_sampler(f, country) for f in tables.CONDITIONAL_FIELDS}
    out = []
    for _ in range(n):
        c = rng.choice(len(cells.share), p=cells.share)
        codes = {
            "age": np.array([cells.age[c]]),
            "sex": np.array([cells.sex[c]]),
            "ethnicity_detailed": np.array([cells.ethnicity_detailed[c]]),
        }
        row = {"age": int(cells.age[c]), "sex": int(cells.sex[c]), "ethnicity": int(cells.ethnicity[c])}
        for f, s in samplers.items():
            cond = int(s.condition_index(codes, 1)[0])
            probs = np.diff(np.concatenate([[0.0], np.minimum(s.cumulative[cond], 1.0)]))
            row[f] = int(rng.choice(len(probs), p=probs / probs.sum()))
        big5 = L @ rng.standard_normal(5) + AGE_SLOPE * (row["age"] - 2.5) + FEMALE_SHIFT * row["sex"]
        row["big5"] = big5
        row["secular"] = rng.normal(0, 0.85)
        row["interests"] = int((rng.random(24) < 0.25) @ (1 << np.arange(24)))
        out.append(row)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=1_000_000)
    ap.add_argument("--ray", action="store_true", help="also time executor='ray' (local Ray)")
    ap.add_argument("--reference-n", type=int, default=20_000)
    ap.add_argument("--simulate", type=int, default=600, help="personas in the simulated-study timing (0 = skip)")
    args = ap.parse_args()

    from pluralis.simulate.generator import generate_personas

    generate_personas(1000, seed=0)  # warm imports and table caches
    rows = []
    for executor in ("auto", "serial") + (("ray",) if args.ray else ()):
        t = time.perf_counter()
        kwargs = {"ray_init": {"include_dashboard": False}} if executor == "ray" else {}
        panel = generate_personas(args.n, country="US", seed=0, executor=executor, **kwargs)
        took = time.perf_counter() - t
        tvd = panel.census_tvd()["US"]
        rows.append((executor, took, tvd))
        print(
            f"generate {args.n:,} US personas, executor={executor:6s}: {took:6.2f} s "
            f"({args.n / took:,.0f}/s); TVD joint {100 * tvd['joint']:.4f} pp, age {100 * tvd['age']:.4f}, "
            f"sex {100 * tvd['gender']:.4f}, ethnicity {100 * tvd['ethnicity']:.4f} pp"
        )
    t = time.perf_counter()
    reference_generate(args.reference_n)
    ref = (time.perf_counter() - t) / args.reference_n
    best = min(r[1] for r in rows)
    print(
        f"reference (row by row) on {args.reference_n:,}: {ref * 1e6:.1f} us/persona -> "
        f"{ref * args.n:.1f} s for {args.n:,}; ratio reference / vectorised = {ref * args.n / best:.0f}x"
    )
    per_million = best * 1_000_000 / args.n
    margins_ok = all(max(r[2][k] for k in ("age", "gender", "ethnicity")) <= 0.005 for r in rows)
    ok = per_million <= 10.0 and margins_ok
    scaled = "" if args.n == 1_000_000 else f" (extrapolated linearly from {args.n:,})"
    print(
        f"1 M personas: {per_million:.2f} s{scaled}; target (1 M in <= 10 s, margins within 0.5 pp): "
        f"{'met' if ok else 'NOT met'}"
    )
    if args.simulate:
        from pluralis.simulate.study import simulate_study

        panel = generate_personas({"US": args.simulate // 2, "UK": args.simulate - args.simulate // 2}, seed=0)
        t = time.perf_counter()
        res = simulate_study(panel, seed=0)
        took = time.perf_counter() - t
        c = res.study.counts()
        print(
            f"simulated study: {c['survey']} personas, {c['conversations']:,} conversations, "
            f"{c['utterances']:,} ratings through the protocol engine in {took:.1f} s "
            f"({c['survey'] / took:.0f} participants/s)"
        )


if __name__ == "__main__":
    main()
