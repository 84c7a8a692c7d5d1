"""Benchmark: Case Study I (who talks about what) at PRISM size and at Arena size (1 M prompts).

Run:  .venv/bin/python benchmarks/bench_topics.py                 (PRISM size, then 1,000,000 prompts)
      .venv/bin/python benchmarks/bench_topics.py --quick         (PRISM size, then 200,000 prompts)
      .venv/bin/python benchmarks/bench_topics.py --skip-scale    (PRISM size only)

Embeddings are taken as cached (the target is "after the embeddings are cached"): each text gets a
384-d unit vector drawn around its topic's and template's centres, so every text is distinct, as
PRISM's openers nearly all are. ``--real-embeddings`` embeds the texts with the bundled MiniLM
instead (each distinct text once).

1. PRISM size: a generated study of 1,335 participants x 6 conversations = 8,010 opening prompts
   on planted topics, 60,000 rated responses. ``analyse_topics`` runs every step with PRISM's
   settings (UMAP 20-d, HDBSCAN min cluster size 1 % = 80, 1,000 bootstrap draws, PRISM's six
   regressors, local neighbourhoods at 3 thresholds x 2 algorithms with the entropy test, model
   rankings within topics with 200 bootstrap rounds, census weighting), then writes every table and
   figure. Target: <= 60 s on 2 cores.
   Reference, same process: the plain pipeline as PRISM's code runs it — UMAP with NN-descent
   (20-d, and again 2-d for the map), HDBSCAN, centroid distances in a loop, dense c-TF-IDF,
   statsmodels formula OLS per topic, the over-representation bootstrap as a pandas loop per draw
   (timed on 100 draws, scaled to 1,000), meedan's ``temporal_cluster`` loop per threshold, SciPy
   single linkage, and the entropy simulation with ``DataFrame.sample`` per draw as PRISM's
   notebook.
2. Arena size: 1,000,000 prompts from 100,000 authors on 30 topics. ``TopicModel`` fits UMAP +
   HDBSCAN on a 50,000-text sample and places the rest by their 10 nearest fitted neighbours
   (pynndescent); then over-representation (200 Poisson-bootstrap draws) and regressions.
   Reference, same process: scikit-learn's exact brute-force neighbours for the placement, timed
   on 20,000 queries and scaled to all; recall of the approximate neighbours against it.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pluralis.data.synthetic import TOPIC_OPENERS, generate_study
from pluralis.topics import TopicModel, analyse_topics, over_representation, topic_regressions
from pluralis.topics.neighbourhoods import PRISM_ENTROPY_ATTRIBUTES, PRISM_TAUS

DIM = 384


def synthetic_embeddings(
    topic: np.ndarray, sub: np.ndarray, seed: int = 0, noise: float = 0.9, near_duplicates: float = 0.12
) -> np.ndarray:
    """Unit vectors around a topic centre plus a sub-topic (template) centre; distinct per text.

    A ``near_duplicates`` share of texts are rephrasings of another text (its vector plus a little
    noise), in groups of 2-60 as PRISM's "Hello" x 60, so local neighbourhoods form as in PRISM.
    """
    rng = np.random.default_rng(seed)
    n_t, n_s = int(topic.max()) + 1, int(sub.max()) + 1
    centres = rng.normal(size=(n_t, DIM)).astype(np.float32)
    subs = 0.6 * rng.normal(size=(n_t, n_s, DIM)).astype(np.float32)
    out = np.empty((len(topic), DIM), dtype=np.float32)
    for start in range(0, len(topic), 100_000):  # chunks: memory
        t, s = topic[start : start + 100_000], sub[start : start + 100_000]
        x = centres[t] + subs[t, s] + noise * rng.normal(size=(len(t), DIM)).astype(np.float32)
        out[start : start + len(t)] = x / np.linalg.norm(x, axis=1, keepdims=True)
    n_dup = int(near_duplicates * len(topic))
    if n_dup:
        sizes = np.minimum(rng.zipf(1.8, size=n_dup), 60)
        sizes = sizes[np.cumsum(sizes) <= n_dup]
        rows = rng.permutation(len(topic))[: int(sizes.sum()) + len(sizes)]
        heads, pos = rows[: len(sizes)], len(sizes)
        for head, k in zip(heads, sizes):  # one step per group
            members = rows[pos : pos + k]
            pos += k
            x = out[head] + 0.04 * rng.normal(size=(k, DIM)).astype(np.float32) / np.sqrt(DIM) * 8
            out[members] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


class Timer:
    """Wall and CPU (process) time of each step."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, float, float]] = []

    def __call__(self, name: str, fn, *args, **kwargs):
        t, c = time.perf_counter(), time.process_time()
        out = fn(*args, **kwargs)
        self.rows.append((name, time.perf_counter() - t, time.process_time() - c))
        return out

    def total(self) -> tuple[float, float]:
        return sum(r[1] for r in self.rows), sum(r[2] for r in self.rows)

    def print(self, width: int = 66) -> None:
        for name, wall, cpu in self.rows:
            print(f"  {name:<{width}s} {wall:8.2f}s {cpu:8.2f}s")
        wall, cpu = self.total()
        print(f"  {'total':<{width}s} {wall:8.2f}s {cpu:8.2f}s")


# --- PRISM size: the reference plain pipeline ------------------------------------------------------


def reference_pipeline(frames, E: np.ndarray, by: list[str], timer: Timer, boot_draws: int = 100) -> None:
    import statsmodels.formula.api as smf
    from scipy.cluster.hierarchy import fcluster, linkage
    from sklearn.cluster import HDBSCAN
    from sklearn.feature_extraction.text import CountVectorizer
    from umap import UMAP

    conv = frames.conversations
    texts = conv["opening_prompt"].tolist()
    n = len(texts)

    def umap(dim):
        return UMAP(random_state=42, n_neighbors=15, n_components=dim, min_dist=0.0, metric="cosine").fit_transform(E)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        red = timer("UMAP 20-d (NN-descent)", umap, 20)
        labels = timer("HDBSCAN", lambda: HDBSCAN(min_cluster_size=80).fit(red).labels_)

        def centroids():
            cents = [np.mean(red[labels == i], axis=0) for i in range(len(set(labels)))]
            return [np.linalg.norm(red[i] - cents[labels[i]]) for i in range(n)]

        timer("centroid distances (loop)", centroids)

        def ctfidf():
            docs = pd.DataFrame({"t": texts, "c": labels}).groupby("c", as_index=False).agg({"t": " ".join})
            count = CountVectorizer(ngram_range=(1, 2), stop_words="english").fit(docs.t.values)
            t = count.transform(docs.t.values).toarray()
            tf = np.divide(t.T, t.sum(axis=1))
            tf_idf = np.multiply(tf, np.log(np.divide(n, t.sum(axis=0))).reshape(-1, 1))
            return tf_idf.T.argsort()[:, -10:]

        timer("c-TF-IDF (dense)", ctfidf)
        timer("UMAP 2-d for the map", umap, 2)

    survey = frames.survey
    a = (
        conv[["user_id", "conversation_type"]]
        .assign(topic=labels)
        .merge(survey[["user_id", *[c for c in by if c in survey.columns]]], on="user_id")
    )
    users = survey["user_id"].to_numpy()
    rng = np.random.default_rng(0)

    def or_bootstrap():
        for _ in range(boot_draws):
            draw = pd.DataFrame({"user_id": rng.choice(users, len(users))})
            s = draw.merge(a, on="user_id")
            for col in ("gender", "age"):
                base = draw.merge(survey[["user_id", col]], on="user_id")[col].value_counts(normalize=True)
                share = s.groupby("topic")[col].value_counts(normalize=True)
                _ = share / share.index.get_level_values(1).map(base).to_numpy()

    t, c = time.perf_counter(), time.process_time()
    or_bootstrap()
    scale = 1000 / boot_draws
    timer.rows.append(
        (
            f"over-representation bootstrap (pandas loop, {boot_draws} draws x {1000 // boot_draws})",
            (time.perf_counter() - t) * scale,
            (time.process_time() - c) * scale,
        )
    )

    df = a.rename(
        columns={
            "location_special_region": "region",
            "ethnicity_simplified": "ethnicity",
            "religion_simplified": "religion",
        }
    )

    def regressions():
        for t in sorted(set(labels) - {-1}):
            d = df.assign(y=(df["topic"] == t).astype(float))
            smf.ols(
                "y ~ C(gender, Treatment('Male')) + C(age) + C(region, Treatment('US')) + "
                "C(ethnicity, Treatment('White')) + C(religion, Treatment('No Affiliation')) + "
                "C(conversation_type, Treatment('unguided'))",
                data=d,
            ).fit(cov_type="cluster", cov_kwds={"groups": pd.factorize(d["user_id"])[0]})

    timer("regressions (statsmodels formula per topic)", regressions)

    order = np.argsort(np.array(texts, dtype=object), kind="stable")
    Es = E[order]

    def temporal_cluster(tau):  # meedan/temporal_clustering as PRISM ran it: one pass per threshold
        cluster = list(range(n))
        norms = np.linalg.norm(Es, axis=1)
        for i in range(1, n):
            d = 1 - (Es[:i] @ Es[i]) / (norms[:i] * norms[i])
            j = int(np.argmin(d))
            if d[j] <= tau:
                cluster[i] = cluster[j]
        return cluster

    chains = timer(
        "local neighbourhoods as coded (loop, 3 thresholds)", lambda: [temporal_cluster(t) for t in PRISM_TAUS]
    )
    timer(
        "local neighbourhoods single-link (SciPy, 3 thresholds)",
        lambda: [fcluster(linkage(E, "single", metric="cosine"), t, "distance") for t in PRISM_TAUS],
    )
    pop = a.reset_index(drop=True)

    def entropy():
        state = np.random.default_rng(42)
        attrs = [c for c in PRISM_ENTROPY_ATTRIBUTES if c in pop.columns]
        sizes = sorted({k for c in chains for k in pd.Series(c).value_counts() if k > 1})
        for k in sizes:  # PRISM's notebook: m = 100 df.sample draws per size
            for _ in range(100):
                s = pop.sample(n=k, replace=True, random_state=state)
                for c in attrs:
                    p = s[c].value_counts(normalize=True)
                    _ = -(p * np.log2(p)).sum()

    timer("entropy simulation (DataFrame.sample per draw)", entropy)


# --- the 1 M-prompt run ----------------------------------------------------------------------------


def arena_data(n: int, n_users: int, n_topics: int = 30, seed: int = 0):
    rng = np.random.default_rng(seed)
    topic = rng.integers(0, n_topics, n)
    sub = rng.integers(0, 5, n)
    vocab = [[f"w{t}_{i}" for i in range(40)] for t in range(n_topics)]
    words = rng.integers(0, 40, size=(n, 4))
    texts = [" ".join(vocab[t][w] for w in ws) for t, ws in zip(topic, words)]
    users = rng.integers(0, n_users, n)
    survey = pd.DataFrame(
        {
            "user_id": np.arange(n_users),
            "gender": rng.choice(["Male", "Female"], n_users),
            "age": rng.choice(["18-24", "25-34", "35-44", "45-54", "55+"], n_users),
        }
    )
    return texts, topic, sub, users, survey


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="200,000 prompts at scale instead of 1,000,000")
    parser.add_argument("--skip-scale", action="store_true", help="PRISM size only")
    parser.add_argument("--skip-prism", action="store_true", help="the scale run only")
    parser.add_argument("--skip-reference", action="store_true", help="no reference runs")
    parser.add_argument("--real-embeddings", action="store_true", help="embed the texts with the bundled MiniLM")
    parser.add_argument("--scale", type=int, default=None, help="number of prompts of the scale run")
    parser.add_argument("--fit-texts", type=int, default=50_000, help="sample UMAP + HDBSCAN are fitted on at scale")
    args = parser.parse_args()
    print(f"# bench_topics on {platform.node()} ({platform.machine()}, python {platform.python_version()})")

    if not args.skip_prism:
        prism_size(args)
    if not args.skip_scale:
        scale_run(args)


def prism_size(args) -> None:
    study = generate_study(n_participants=1335, seed=0, planted_topics=True, with_metadata=False)
    frames = study.frames()
    conv = frames.conversations
    truth = study.ground_truth.conversation_topics.loc[conv["conversation_id"]]
    topic_codes = pd.factorize(truth)[0]
    sub = np.array(
        [
            next(i for i, t in enumerate(TOPIC_OPENERS[tt]) if text.startswith(t.split("{x}")[0]))
            for text, tt in zip(conv["opening_prompt"], truth)
        ]
    )
    if args.real_embeddings:
        from pluralis.topics.embed import SentenceEmbedder

        t = time.perf_counter()
        E = SentenceEmbedder()(conv["opening_prompt"].tolist())
        print(f"embedded {conv['opening_prompt'].nunique():,} distinct texts in {time.perf_counter() - t:.1f} s")
    else:
        E = synthetic_embeddings(topic_codes, sub)
    by = [
        "gender",
        "age",
        "location_special_region",
        "ethnicity_simplified",
        "religion_simplified",
        "conversation_type",
    ]
    print(
        f"\n## PRISM size: {len(conv):,} opening prompts, {len(frames.utterances):,} rated responses, "
        f"{len(frames.survey):,} participants"
    )
    out = Path(tempfile.mkdtemp())
    t0, c0 = time.perf_counter(), time.process_time()
    res = analyse_topics(frames, by=by, embeddings=E, census="US", n_boot=1000, rank_rounds=200)
    t_map, c_map = time.perf_counter(), time.process_time()
    res.model.coordinates_2d()
    step = "2-D map (UMAP, 2 components)"
    res.timings[step], res.cpu_timings[step] = time.perf_counter() - t_map, time.process_time() - c_map
    t_write, c_write = time.perf_counter(), time.process_time()
    files = res.write(out, formats=("csv", "parquet"))
    step = "write tables, map, heatmap, report"
    res.timings[step], res.cpu_timings[step] = time.perf_counter() - t_write, time.process_time() - c_write
    total, total_cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"  {'step':<45s} {'wall':>8s} {'CPU':>8s}")
    for name, s in res.timings.items():
        print(f"  {name:<45s} {s:7.2f}s {res.cpu_timings[name]:7.2f}s")
    m = res.model
    print("    (topics: " + ", ".join(f"{k} {v:.1f}s" for k, v in m.timings_.items()) + ")")
    print(
        f"  {'**total (target <= 60 s)**':<45s} {total:7.2f}s {total_cpu:7.2f}s   "
        f"({m.n_topics_} topics, {100 * m.outlier_share_:.1f}% outliers, {len(files)} files)"
    )
    print("  (CPU: process time of all threads; on a shared machine wall time also counts waiting for a core)")

    if not args.skip_reference:
        print("\n  reference: the plain pipeline as PRISM's code runs it (same process)")
        timer = Timer()
        reference_pipeline(frames, E, by, timer)
        timer.print()
        same = ("topics", "over_representation", "regressions", "neighbourhoods", "2-D map (UMAP, 2 components)")
        ours = sum(res.timings.get(k, 0.0) for k in same), sum(res.cpu_timings.get(k, 0.0) for k in same)
        ref = timer.total()
        print(
            f"  pluralis, the same steps: {ours[0]:.2f}s wall, {ours[1]:.2f}s CPU -> reference / pluralis "
            f"{ref[0] / ours[0]:.1f}x wall, {ref[1] / ours[1]:.1f}x CPU"
        )


def scale_run(args) -> None:
    from pynndescent import NNDescent
    from sklearn.metrics import adjusted_rand_score
    from sklearn.neighbors import NearestNeighbors

    n = args.scale or (200_000 if args.quick else 1_000_000)
    n_users = max(1000, n // 10)
    t = time.perf_counter()
    texts, topic, sub, users, survey = arena_data(n, n_users)
    E = synthetic_embeddings(topic, sub, seed=1, noise=0.7)
    print(
        f"\n## Arena size: {n:,} prompts, {n_users:,} authors, 30 planted topics "
        f"(data built in {time.perf_counter() - t:.1f} s, embeddings {E.nbytes / 2**30:.2f} GiB)"
    )
    print(f"  {'step':<66s} {'wall':>9s} {'CPU':>9s}")
    timer = Timer()
    tm = timer(
        f"topics: UMAP + HDBSCAN on {args.fit_texts:,}, place the rest (pynndescent)",
        TopicModel(max_fit_texts=args.fit_texts, min_cluster_share=0.01, min_samples=15).fit,
        texts,
        embeddings=E,
    )
    assign = pd.DataFrame({"user_id": users, "topic": tm.labels_})
    timer(
        "over-representation (gender, age; 200 Poisson-bootstrap draws)",
        over_representation,
        assign,
        ["gender", "age"],
        survey=survey,
        n_boot=200,
    )
    timer(
        "regressions (gender, age; clustered SEs, all topics)",
        topic_regressions,
        assign,
        survey=survey,
        terms={"gender": "Male", "age": "18-24"},
    )
    timer.print()
    print("    (topics: " + ", ".join(f"{k} {v:.1f}s" for k, v in tm.timings_.items()) + " wall)")
    placed = np.setdiff1d(np.arange(n), tm.fit_index_)
    print(
        f"  {tm.n_topics_} topics, {100 * tm.outlier_share_:.1f}% outliers; adjusted Rand vs planted: fitted sample "
        f"{adjusted_rand_score(topic[tm.fit_index_], tm.labels_[tm.fit_index_]):.3f}, placed texts "
        f"{adjusted_rand_score(topic[placed], tm.labels_[placed]):.3f}"
    )
    if args.skip_reference:
        return
    fit, queries = E[tm.fit_index_], placed[:20_000]
    scale = len(placed) / len(queries)
    t, c = time.perf_counter(), time.process_time()
    exact = (
        NearestNeighbors(n_neighbors=10, metric="cosine", algorithm="brute")
        .fit(fit)
        .kneighbors(E[queries], return_distance=False)
    )
    exact_t = ((time.perf_counter() - t) * scale, (time.process_time() - c) * scale)
    t, c = time.perf_counter(), time.process_time()
    index = NNDescent(fit, n_neighbors=15, metric="cosine", random_state=0)
    index.prepare()
    build = (time.perf_counter() - t, time.process_time() - c)
    t, c = time.perf_counter(), time.process_time()
    approx = index.query(E[queries], k=10)[0]
    approx_t = (build[0] + (time.perf_counter() - t) * scale, build[1] + (time.process_time() - c) * scale)
    recall = float(np.mean((approx[:, :, None] == exact[:, None, :]).any(axis=2)))
    print(
        f"  reference: scikit-learn exact brute-force neighbours for placing {len(placed):,} texts "
        f"(timed on {len(queries):,} queries, scaled): {exact_t[0]:.0f}s wall / {exact_t[1]:.0f}s CPU; "
        f"pynndescent (index {build[1]:.0f}s CPU + queries): {approx_t[0]:.0f}s wall / {approx_t[1]:.0f}s CPU "
        f"-> ratio {exact_t[1] / approx_t[1]:.1f}x CPU, recall@10 {recall:.3f}"
    )


if __name__ == "__main__":
    main()
