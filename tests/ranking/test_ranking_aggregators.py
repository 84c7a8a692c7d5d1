"""Aggregators: known answers solved by hand, an independent slow PRC, properties (hypothesis)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.peers import prism_rank_centrality
from pluralis.errors import ConfigError
from pluralis.ranking.battles import encode_battles
from pluralis.ranking.encode import count_matrices, mean_by_model
from pluralis.ranking.engine import rank_models, ranks_from_scores
from pluralis.ranking.methods.bt import bradley_terry, bt_from_counts
from pluralis.ranking.methods.elo import elo_online, elo_online_batch
from pluralis.ranking.methods.prc import pairwise_rank_centrality, prc_from_counts, stationary_distribution
from pluralis.ranking.methods.win_rate import average_win_rate, win_rate_from_counts
from pluralis.ranking.registry import get_aggregator

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- independent slow implementations (written from the formulas, loops everywhere) -------------


def slow_prc(a, b, outcome, n, alpha):
    """PRC from PRISM App. T.1, row-stochastic form, stationary vector from numpy's eigensolver."""
    W = [[0.0] * n for _ in range(n)]
    for x, y, o in zip(a, b, outcome):
        if o == 2:  # a tie counts as a win both ways
            W[x][y] += 1
            W[y][x] += 1
        elif o == 0:
            W[x][y] += 1
        else:
            W[y][x] += 1
    for i in range(n):
        for j in range(n):
            if i != j:
                W[i][j] += alpha
    T = np.zeros((n, n))  # T[l, w]: from l (current) to w (challenger that beats it)
    for l in range(n):
        for w in range(n):
            if w == l:
                continue
            tot = W[w][l] + W[l][w]
            T[l, w] = (W[w][l] / tot if tot > 0 else 0.0) / (n - 1)
        T[l, l] = 1.0 - sum(T[l, w] for w in range(n) if w != l)
    vals, vecs = np.linalg.eig(T.T)
    k = int(np.argmin(np.abs(vals - 1.0)))
    pi = np.real(vecs[:, k])
    return pi / pi.sum()


def fastchat_mle_elo(battles: pd.DataFrame, models, C=1.0):
    """FastChat ``compute_mle_elo`` (early 2024): duplicated rows, sklearn LogisticRegression."""
    from sklearn.linear_model import LogisticRegression

    idx = {m: i for i, m in enumerate(models)}
    m = len(battles)
    X = np.zeros((2 * m, len(models)))
    rows = np.arange(m)
    ia = battles["model_a"].map(idx).to_numpy()
    ib = battles["model_b"].map(idx).to_numpy()
    X[rows, ia] = math.log(10)
    X[rows, ib] = -math.log(10)
    X[m + rows, ia] = math.log(10)
    X[m + rows, ib] = -math.log(10)
    Y = np.zeros(2 * m)
    Y[:m][battles["winner"].to_numpy() == "model_a"] = 1
    Y[m:][battles["winner"].to_numpy() == "model_a"] = 1
    Y[:m][battles["winner"].to_numpy() == "tie"] = 1  # a tie = one A win (first copy) + one B win
    kw = {} if C is not None else {"C": np.inf}
    lr = LogisticRegression(fit_intercept=False, tol=1e-10, max_iter=10_000, **({"C": C} if C is not None else kw))
    lr.fit(X, Y)
    return 400 * lr.coef_[0] + 1000


# --- strategies -----------------------------------------------------------------------------------


@st.composite
def tournaments(draw, min_models=2, max_models=7, max_battles=120):
    n = draw(st.integers(min_models, max_models))
    m = draw(st.integers(1, max_battles))
    a = np.array(draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m)))
    shift = np.array(draw(st.lists(st.integers(1, n - 1), min_size=m, max_size=m)))
    b = (a + shift) % n
    o = np.array(draw(st.lists(st.sampled_from([0, 1, 2]), min_size=m, max_size=m)))
    return n, a, b, o


def _frame(a, b, o, names=None):
    names = names or [f"m{i}" for i in range(max(int(a.max()), int(b.max())) + 1)]
    return pd.DataFrame(
        {
            "model_a": [names[i] for i in a],
            "model_b": [names[i] for i in b],
            "winner": np.array(["model_a", "model_b", "tie"], dtype=object)[o],
        }
    )


# --- PRC: known answers -----------------------------------------------------------------------------


def test_prc_two_models_by_hand():
    # x beats y 3 times, y beats x once. alpha=0: P[x,y]=3/4 -> pi = (3/4, 1/4)
    s = pairwise_rank_centrality([0, 0, 0, 1], [1, 1, 1, 0], [0, 0, 0, 0], 2, alpha=0)
    assert np.allclose(s, [0.75, 0.25], atol=1e-12)
    # alpha=1 adds one prior win each way: P[x,y] = 4/6
    s = pairwise_rank_centrality([0, 0, 0, 1], [1, 1, 1, 0], [0, 0, 0, 0], 2, alpha=1)
    assert np.allclose(s, [2 / 3, 1 / 3], atol=1e-12)
    # a tie counts one win each way: 2 wins + 1 tie -> W = (3, 1)
    s = pairwise_rank_centrality([0, 0, 0], [1, 1, 1], [0, 0, 2], 2, alpha=0)
    assert np.allclose(s, [0.75, 0.25], atol=1e-12)


def test_prc_three_models_by_hand():
    # x beats y and z once each; y and z tie once. alpha=1:
    # P[x,y] = P[x,z] = 2/3, P[y,z] = P[z,y] = 1/2; balance for x gives pi = (1/2, 1/4, 1/4)
    s = pairwise_rank_centrality([0, 0, 1], [1, 2, 2], [0, 0, 2], 3, alpha=1)
    assert np.allclose(s, [0.5, 0.25, 0.25], atol=1e-12)
    # alpha=0: x never loses, so the walk is absorbed at x
    s = pairwise_rank_centrality([0, 0, 1], [1, 2, 2], [0, 0, 2], 3, alpha=0)
    assert np.allclose(s, [1, 0, 0], atol=1e-12)


def test_prc_cycle_is_uniform():
    # x > y > z > x, twice each: a symmetric cycle
    s = pairwise_rank_centrality([0, 0, 1, 1, 2, 2], [1, 1, 2, 2, 0, 0], [0] * 6, 3, alpha=0)
    assert np.allclose(s, [1 / 3] * 3, atol=1e-12)


def test_prc_matches_slow_implementation_on_prism_sized_tournament():
    rng = np.random.default_rng(7)
    n, m = 21, 20_000
    q = rng.normal(0, 1, n)
    a = rng.integers(0, n, m)
    b = (a + rng.integers(1, n, m)) % n
    d = q[a] - q[b] + rng.normal(0, 1, m)
    o = np.where(np.abs(d) < 0.3, 2, np.where(d > 0, 0, 1))
    for alpha in (0.0, 1.0, 5.0):
        assert np.max(np.abs(pairwise_rank_centrality(a, b, o, n, alpha=alpha) - slow_prc(a, b, o, n, alpha))) < 1e-9


@FAST
@given(tournaments(), st.sampled_from([0.1, 0.5, 1.0, 3.0, 10.0, 100.0]))
def test_prc_matches_slow_implementation(t, alpha):
    n, a, b, o = t
    fast = pairwise_rank_centrality(a, b, o, n, alpha=alpha)
    assert np.max(np.abs(fast - slow_prc(a, b, o, n, alpha))) < 1e-9
    assert abs(fast.sum() - 1) < 1e-12 and (fast > 0).all()


@FAST
@given(tournaments(), st.randoms(use_true_random=False))
def test_prc_invariant_to_battle_order_and_side(t, rnd):
    n, a, b, o = t
    base = pairwise_rank_centrality(a, b, o, n)
    perm = np.array(rnd.sample(range(len(a)), len(a)))
    assert np.allclose(pairwise_rank_centrality(a[perm], b[perm], o[perm], n), base, atol=1e-13, rtol=0)
    flipped = np.where(o == 2, 2, 1 - o)  # swap sides of every battle
    assert np.allclose(pairwise_rank_centrality(b, a, flipped, n), base, atol=1e-13, rtol=0)


@FAST
@given(tournaments(), st.randoms(use_true_random=False))
def test_aggregators_equivariant_to_model_labels(t, rnd):
    n, a, b, o = t
    relabel = np.array(rnd.sample(range(n), n))  # model k becomes relabel[k]
    for f in (pairwise_rank_centrality, average_win_rate):
        s0 = f(a, b, o, n)
        s1 = f(relabel[a], relabel[b], o, n)
        assert np.allclose(s1[relabel], s0, atol=1e-12, equal_nan=True)
    r0 = bradley_terry(a, b, o, n)
    r1 = bradley_terry(relabel[a], relabel[b], o, n)
    assert np.allclose(r1[relabel], r0, atol=1e-6)


def test_prc_frequency_invariant_without_prior():
    # duplicating every battle does not change the per-pair win shares (PRISM's desideratum)
    a, b, o = np.array([0, 1, 2, 0, 2]), np.array([1, 2, 0, 2, 1]), np.array([0, 0, 1, 2, 1])
    s1 = pairwise_rank_centrality(a, b, o, 3, alpha=0)
    s5 = pairwise_rank_centrality(np.tile(a, 5), np.tile(b, 5), np.tile(o, 5), 3, alpha=0)
    assert np.allclose(s1, s5, atol=1e-12)


@FAST
@given(st.integers(3, 7), st.integers(1, 12), st.integers(0, 2**31 - 1))
def test_dominant_model_ranks_first(n, k, seed):
    """Model 0 wins every battle; every pair meets k times (balanced design)."""
    rng = np.random.default_rng(seed)
    a, b, o = [], [], []
    for i in range(n):
        for j in range(i + 1, n):
            a += [i] * k
            b += [j] * k
            o += [0] * k if i == 0 else list(rng.integers(0, 3, k))
    a, b, o = np.array(a), np.array(b), np.array(o)
    for alpha in (0.0, 1.0, 5.0):
        s = pairwise_rank_centrality(a, b, o, n, alpha=alpha)
        assert ranks_from_scores(s)[0] == 1 and (s[1:] < s[0]).all()
    assert ranks_from_scores(bradley_terry(a, b, o, n))[0] == 1
    assert ranks_from_scores(average_win_rate(a, b, o, n))[0] == 1
    assert ranks_from_scores(elo_online(a, b, o, n))[0] == 1


def test_dominant_model_absorbs_walk_without_prior_in_any_design():
    rng = np.random.default_rng(3)
    n = 6
    a = np.r_[np.zeros(5, int), rng.integers(1, n, 200)]
    b = np.r_[np.arange(1, 6), (a[5:] + rng.integers(1, n - 1, 200)) % (n - 1) + 1]
    b[5:][b[5:] == a[5:]] = (a[5:][b[5:] == a[5:]] % (n - 1)) + 1
    o = np.r_[np.zeros(5, int), rng.integers(0, 3, 200)]
    s = pairwise_rank_centrality(a, b, o, n, alpha=0)
    assert s[0] == pytest.approx(1.0)


# --- PRC as coded -----------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_prc_as_coded_reproduces_reference_code(seed):
    rng = np.random.default_rng(seed)
    n, m = 8, 600
    q = np.linspace(1, -1, n)
    a = rng.integers(0, n, m)
    b = (a + rng.integers(1, n, m)) % n
    d = q[a] - q[b] + rng.normal(0, 1, m)
    o = np.where(np.abs(d) < 0.2, 2, np.where(d > 0, 0, 1))
    names = [f"model-{c}" for c in "abcdefgh"]
    frame = _frame(a, b, o, names)
    ref = prism_rank_centrality(frame, alpha=1)  # the literal port the benchmarks time, bug included
    ours = rank_models(frame, "prc", variant="as_coded").set_index("model")["score"]
    assert max(abs(ours[k] - v) for k, v in ref.items()) < 1e-12
    # and the bug matters: the correct definition differs
    correct = rank_models(frame, "prc").set_index("model")["score"]
    assert max(abs(correct[k] - v) for k, v in ref.items()) > 1e-4


def test_prc_as_coded_equals_paper_for_three_models():
    # for n <= 3 the row-major triu/tril orders pair every cell with its transpose
    a, b, o = np.array([0, 0, 1, 2, 1]), np.array([1, 2, 2, 0, 0]), np.array([0, 2, 1, 0, 0])
    paper = pairwise_rank_centrality(a, b, o, 3)
    coded = pairwise_rank_centrality(a, b, o, 3, variant="as_coded")
    assert np.allclose(paper, coded, atol=1e-6)


def test_prc_rejects_bad_options():
    with pytest.raises(ConfigError):
        pairwise_rank_centrality([0], [1], [0], 2, alpha=-1)
    with pytest.raises(ConfigError):
        pairwise_rank_centrality([0], [1], [0], 2, variant="fast")


def test_stationary_distribution_reducible_chain_falls_back():
    # two disconnected pairs with alpha=0: no unique stationary distribution
    a, b, o = np.array([0, 2]), np.array([1, 3]), np.array([0, 0])
    s = pairwise_rank_centrality(a, b, o, 4, alpha=0)
    assert np.isfinite(s).all() and abs(s.sum() - 1) < 1e-12
    assert s[0] > s[1] and s[2] > s[3]


def test_stationary_distribution_batched():
    A = np.array([[[0.5, 0.25], [0.5, 0.75]], [[0.9, 0.1], [0.1, 0.9]]])
    pi = stationary_distribution(A)
    assert np.allclose(pi, [[1 / 3, 2 / 3], [0.5, 0.5]])


def test_prc_batched_alphas_match_single_calls():
    a, b, o = np.array([0, 0, 1, 2]), np.array([1, 2, 2, 0]), np.array([0, 2, 1, 0])
    w, t = count_matrices(a, b, o, 3)
    batch = prc_from_counts(w, t, alpha=np.array([0.5, 1.0, 50.0]))
    for k, al in enumerate([0.5, 1.0, 50.0]):
        assert np.allclose(batch[k], pairwise_rank_centrality(a, b, o, 3, alpha=al), atol=1e-14)


# --- Bradley-Terry ----------------------------------------------------------------------------------


def test_bt_two_models_by_hand():
    r = bradley_terry([0, 0, 0, 1], [1, 1, 1, 0], [0, 0, 0, 0], 2, penalty=None)
    assert r[0] - r[1] == pytest.approx(400 * math.log10(3), abs=1e-6)
    assert r.mean() == pytest.approx(1000)
    # one win + one tie: 2 + 1 of 4 half-wins -> same 3:1 odds
    r = bradley_terry([0, 0], [1, 1], [0, 2], 2, penalty=None)
    assert r[0] - r[1] == pytest.approx(400 * math.log10(3), abs=1e-6)


def test_bt_matches_sklearn_fastchat_style():
    rng = np.random.default_rng(5)
    n, m = 6, 1500
    q = np.linspace(0.8, -0.8, n)
    a = rng.integers(0, n, m)
    b = (a + rng.integers(1, n, m)) % n
    d = q[a] - q[b] + rng.normal(0, 1, m)
    o = np.where(np.abs(d) < 0.25, 2, np.where(d > 0, 0, 1))
    frame = _frame(a, b, o)
    models = [f"m{i}" for i in range(n)]
    ref = fastchat_mle_elo(frame, models, C=1.0)
    ours = rank_models(frame, "bt", models=models).set_index("model").loc[models, "score"].to_numpy()
    assert np.max(np.abs(ours - ref)) < 1e-3
    ref_none = fastchat_mle_elo(frame, models, C=None)
    ours_none = bradley_terry(a, b, o, n, penalty=None)
    assert np.max(np.abs((ours_none - ours_none.mean()) - (ref_none - ref_none.mean()))) < 1e-3


def test_bt_anchor_and_scale():
    a, b, o = np.array([0, 0, 1, 2, 2]), np.array([1, 2, 2, 0, 1]), np.array([0, 0, 2, 1, 0])
    frame = _frame(a, b, o, ["x", "y", "flan-t5-xxl"])
    out = rank_models(frame, "bt", anchor={"flan-t5-xxl": 800}).set_index("model")["score"]
    plain = rank_models(frame, "bt").set_index("model")["score"]
    assert out["flan-t5-xxl"] == pytest.approx(800)
    assert out["x"] - out["y"] == pytest.approx(plain["x"] - plain["y"])
    with pytest.raises(ConfigError, match="anchor"):
        rank_models(frame, "bt", anchor={"nope": 800})


def test_bt_unpenalised_undefeated_model_warns():
    with pytest.warns(RuntimeWarning, match="did not converge"):
        bradley_terry([0, 0, 1], [1, 2, 2], [0, 0, 0], 3, penalty=None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = bradley_terry([0, 0, 1], [1, 2, 2], [0, 0, 0], 3)  # L2 keeps it finite
    assert np.isfinite(r).all() and r[0] > r[1] > r[2]


def test_bt_batched_equals_single():
    rng = np.random.default_rng(1)
    wins = rng.integers(0, 20, (5, 4, 4)).astype(float)
    wins[:, np.arange(4), np.arange(4)] = 0
    ties = np.zeros_like(wins)
    batch = bt_from_counts(wins, ties)
    for k in range(5):
        assert np.allclose(batch[k], bt_from_counts(wins[k], ties[k]), atol=1e-8)


# --- online Elo -------------------------------------------------------------------------------------


def test_elo_online_by_hand():
    r = elo_online([0, 0], [1, 1], [0, 2], 2)
    ea = 1 / (1 + 10 ** (-4 / 400))
    assert r[0] == pytest.approx(1002 + 4 * (0.5 - ea), abs=1e-12)
    assert r.sum() == pytest.approx(2000)  # zero-sum updates


def test_elo_online_is_order_sensitive_prc_is_not():
    a, b, o = np.array([0, 0]), np.array([1, 1]), np.array([0, 1])
    e1 = elo_online(a, b, o, 2)
    e2 = elo_online(a[::-1], b[::-1], o[::-1], 2)
    assert not np.allclose(e1, e2)
    assert np.allclose(pairwise_rank_centrality(a, b, o, 2), pairwise_rank_centrality(a[::-1], b[::-1], o[::-1], 2))


@FAST
@given(tournaments(min_models=2, max_models=5, max_battles=40), st.integers(0, 1000))
def test_elo_batch_equals_sequential(t, seed):
    n, a, b, o = t
    rng = np.random.default_rng(seed)
    idx = np.stack([rng.permutation(len(a)), rng.integers(0, len(a), len(a))])
    batch = elo_online_batch(a, b, o, n, idx)
    for k in range(2):
        assert np.allclose(batch[k], elo_online(a[idx[k]], b[idx[k]], o[idx[k]], n), atol=1e-9)


def test_rank_models_elo_shuffle_changes_result():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 4, 300)
    b = (a + rng.integers(1, 4, 300)) % 4
    o = rng.integers(0, 3, 300)
    f = _frame(a, b, o)
    s1 = rank_models(f, "elo", seed=1).set_index("model")["score"]
    s2 = rank_models(f, "elo", seed=2).set_index("model")["score"]
    s0 = rank_models(f, "elo").set_index("model")["score"]
    assert not np.allclose(s1, s2)
    assert np.allclose(s0, rank_models(f, "elo").set_index("model")["score"])


# --- win rate and score means -----------------------------------------------------------------------


def test_win_rate_by_hand():
    a, b, o = [0, 0, 1, 0], [1, 1, 0, 1], [0, 0, 0, 2]  # x: 2 wins, y: 1 win, 1 tie
    assert np.allclose(average_win_rate(a, b, o, 2), [0.5, 0.25])
    assert np.allclose(average_win_rate(a, b, o, 2, ties="exclude"), [2 / 3, 1 / 3])
    # unmet pairs are skipped, models without battles are NaN
    w = average_win_rate([0], [1], [0], 3)
    assert w[0] == 1 and w[1] == 0 and np.isnan(w[2])
    with pytest.raises(ConfigError):
        win_rate_from_counts(np.zeros((2, 2)), np.zeros((2, 2)), ties_mode="half")


def test_score_means_and_direction():
    b = pd.DataFrame(
        {
            "model_a": ["x", "x"],
            "model_b": ["y", "z"],
            "winner": ["model_a", "model_b"],
            "score_a": [80, 70],
            "score_b": [40, 90],
            "user_id": ["u", "v"],
            "interaction_id": ["i", "j"],
            "raw_score_a": [80, 70],
            "raw_score_b": [40, 90],
            "normalized_score_a": [0.7, -0.7],
            "normalized_score_b": [-0.7, 0.7],
            "within_turn_rank_a": [1, 2],
            "within_turn_rank_b": [2, 1],
        }
    )
    ms = rank_models(b, "mean_score").set_index("model")
    assert ms.loc["x", "score"] == 75 and ms.loc["z", "rank"] == 1
    wr = rank_models(b, "mean_within_turn_rank").set_index("model")
    assert wr.loc["x", "score"] == 1.5 and wr.loc["z", "rank"] == 1  # lower is better
    assert rank_models(b, "mean_within_turn_rank").attrs["higher_is_better"] is False
    assert np.allclose(mean_by_model([0, 0, 1], [1.0, np.nan, 3.0], 3), [1, 3, np.nan], equal_nan=True)


def test_ranks_from_scores_batched_and_ties():
    s = np.array([[0.1, 0.3, 0.3], [3, 2, 1]])
    assert ranks_from_scores(s).tolist() == [[3, 1, 1], [1, 2, 3]]
    assert ranks_from_scores(s, higher_is_better=False).tolist() == [[1, 2, 2], [3, 2, 1]]


def test_resolve_method_aliases_and_errors():
    assert get_aggregator("elo_mle").name == "bt"
    assert get_aggregator("Rank-Centrality").name == "prc"
    with pytest.raises(ConfigError, match="unknown ranking method"):
        get_aggregator("borda")


def test_rank_models_on_synthetic_study_recovers_truth():
    from scipy.stats import kendalltau

    from pluralis.data.synthetic import generate_study
    from pluralis.ranking.battles import extract_battles

    study = generate_study(n_participants=300, seed=5, with_metadata=False, group_shifts={}, type_shifts={})
    frames = study.frames()
    battles = extract_battles(frames.utterances)
    truth = study.ground_truth.true_ranking(frames.survey)
    for method in ("prc", "bt", "win_rate", "mean_normalized_score"):
        ranked = rank_models(battles, method).set_index("model")["score"]
        tau = kendalltau(ranked.loc[truth.index], truth.to_numpy()).statistic
        assert tau > 0.75, (method, tau)
    top = rank_models(battles, "prc")["model"].iloc[0]
    assert top in truth.index[:3]
    assert len(encode_battles(battles).models) == 21


def test_prc_bootstrap_of_tiny_groups_stays_finite_without_warnings():
    """Resamples of a few people's battles give reducible, slowly mixing chains: the power fallback
    must not let rounding compound into an overflow (it did: ``overflow encountered in matmul``)."""
    import warnings

    from pluralis.ranking.battles import BattleArrays
    from pluralis.ranking.uncertainty import bootstrap

    rng = np.random.default_rng(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for trial in range(12):
            a = rng.integers(0, 6, 12)
            b = (a + rng.integers(1, 6, 12)) % 6
            arrays = BattleArrays.from_lists(
                [f"m{k}" for k in range(6)], a, b, rng.integers(0, 3, 12), cluster=rng.integers(0, 3, 12)
            )
            for unit in ("participants", "battles"):
                for alpha in (0.0, 1.0):
                    r = bootstrap(arrays, "prc", rounds=300, unit=unit, seed=trial, interval="percentile", alpha=alpha)
                    assert np.isfinite(r.samples).all()
                    np.testing.assert_allclose(r.samples.sum(axis=1), 1.0)
