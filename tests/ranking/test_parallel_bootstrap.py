"""The bootstrap's resamples run in chunks on worker threads: same answer for any thread count.

Also the batched Bradley–Terry Newton (pair form, converged problems retired) against a plain
per-problem reference, and the BLAS-thread section entered from several threads at once.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from scipy.optimize import minimize

from pluralis import threads
from pluralis.ranking.battles import BattleArrays
from pluralis.ranking.methods.bt import bt_from_counts
from pluralis.ranking.uncertainty import ROUNDS_PER_CHUNK, bootstrap


def _arrays(seed: int = 0, n_battles: int = 3000, n_models: int = 7, people: int = 120) -> BattleArrays:
    rng = np.random.default_rng(seed)
    strength = np.linspace(-1, 1, n_models)
    a = rng.integers(0, n_models, n_battles)
    b = (a + rng.integers(1, n_models, n_battles)) % n_models
    p = 1 / (1 + np.exp(-(strength[a] - strength[b])))
    u = rng.random(n_battles)
    outcome = np.where(u < 0.15, 2, np.where(u < 0.15 + 0.85 * p, 0, 1))
    names = [f"m{k}" for k in range(n_models)]
    return BattleArrays.from_lists(names, a, b, outcome, cluster=rng.integers(0, people, n_battles))


@pytest.mark.parametrize("method", ["bt", "prc"])
@pytest.mark.parametrize("unit", ["battles", "participants"])
def test_same_draws_for_any_number_of_threads(monkeypatch, method, unit):
    arrays = _arrays()
    rounds = 2 * ROUNDS_PER_CHUNK + 17  # three chunks, the last one short
    results = []
    for workers in (1, 2, 5):
        monkeypatch.setattr(threads, "WORKER_THREADS", workers)
        r = bootstrap(arrays, method, rounds=rounds, unit=unit, seed=3, interval="percentile")
        results.append(r.samples)
    assert results[0].shape == (rounds, 7)
    for other in results[1:]:
        np.testing.assert_array_equal(results[0], other)
    # different seeds really give different resamples (the chunks' streams come from the seed)
    monkeypatch.setattr(threads, "WORKER_THREADS", 2)
    again = bootstrap(arrays, method, rounds=rounds, unit=unit, seed=4, interval="percentile").samples
    assert not np.allclose(again, results[0])


def _bt_reference(Y: np.ndarray, lam: float, s: float = np.log(10)) -> np.ndarray:
    """One problem with scipy's BFGS on the duplicated-battle likelihood (the docstring's formula)."""
    n = Y.shape[0]

    def f(beta):
        d = s * (beta[:, None] - beta[None, :])
        return float(-(Y * -np.logaddexp(0.0, -d)).sum() + 0.5 * lam * beta @ beta)

    def g(beta):
        d = s * (beta[:, None] - beta[None, :])
        p = 1 / (1 + np.exp(-d))
        N = Y + Y.T
        return -s * (Y - N * p).sum(axis=1) + lam * beta

    return minimize(f, np.zeros(n), jac=g, method="BFGS", options={"gtol": 1e-10}).x


def test_batched_newton_matches_a_per_problem_reference():
    rng = np.random.default_rng(1)
    n = 6
    wins = rng.poisson(rng.uniform(0.5, 30, (40, n, n)))
    wins[:, np.arange(n), np.arange(n)] = 0
    wins[:5] *= 50  # some far larger problems in the same batch: they need more steps than the rest
    ties = rng.poisson(2.0, (40, n, n))
    ties = np.triu(ties, 1) + np.swapaxes(np.triu(ties, 1), 1, 2)
    got = bt_from_counts(wins, ties, scale=1.0, init=0.0)  # ratings = beta
    for k in (0, 3, 7, 39):
        ref = _bt_reference(2.0 * wins[k] + ties[k], lam=1.0)
        np.testing.assert_allclose(got[k], ref, atol=1e-6)
    # the batch answer equals each problem fitted alone (retiring converged rows changes nothing)
    alone = np.stack([bt_from_counts(wins[k], ties[k], scale=1.0, init=0.0) for k in range(40)])
    np.testing.assert_allclose(got, alone, atol=1e-8)


def test_blas_section_entered_by_workers_inside_the_callers_section():
    """Workers re-entering the section neither change nor restore the caller's limit."""
    controller = threads._blas_controller()
    if controller is None or not controller.lib_controllers:
        pytest.skip("threadpoolctl sees no BLAS library")
    before = [lib["num_threads"] for lib in controller.info()]
    barrier = threading.Barrier(4)
    seen: list[set[int]] = []

    def work():
        with threads.blas_threads(1):
            barrier.wait()  # all four inside at once
        seen.append({lib["num_threads"] for lib in controller.info()})  # one has left: still pinned

    with threads.blas_threads(1):
        workers = [threading.Thread(target=work) for _ in range(4)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        inside = {lib["num_threads"] for lib in controller.info()}
    assert seen == [{1}] * 4 and inside == {1}
    assert [lib["num_threads"] for lib in controller.info()] == before


def test_participant_resampling_has_the_multinomial_distribution():
    """Indices + bincount (the fast path) against the multinomial's moments, ``Multinomial(n, 1/G)``."""
    from pluralis.ranking.resample import cluster_weights

    G, n, rounds = 7, 12, 40_000
    w = cluster_weights(np.random.default_rng(5), rounds, G, n=n)
    assert w.shape == (rounds, G) and (w.sum(axis=1) == n).all() and (w >= 0).all()
    p = 1 / G
    np.testing.assert_allclose(w.mean(axis=0), n * p, atol=0.03)
    np.testing.assert_allclose(w.var(axis=0), n * p * (1 - p), rtol=0.04)
    cov = np.cov(w.T)[np.triu_indices(G, 1)]
    np.testing.assert_allclose(cov, -n * p * p, atol=0.03)
    # the bootstrap default: n = G draws per round
    assert cluster_weights(np.random.default_rng(1), 3, 4).sum(axis=1).tolist() == [4.0, 4.0, 4.0]
