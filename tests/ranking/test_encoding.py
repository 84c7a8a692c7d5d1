"""Battle encoding: codes gathered lazily, pair counts from the codes, columns encoded on worker threads."""

from __future__ import annotations

import pickle
import threading

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pluralis import threads
from pluralis.ranking import codes
from pluralis.ranking.battles import WINNER_CODES, BattleArrays, encode_battles
from pluralis.ranking.encode import count_matrices, matrices_of_arrays
from pluralis.ranking.engine import rank_models

NAMES = ["gpt-4", "claude-2", "llama-2-70b-chat", "zephyr", "flan-t5-xxl", "a", "é-model"]


def frame(data, string_dtype: str) -> pd.DataFrame:
    a, b, w, u = zip(*data)
    df = pd.DataFrame({"model_a": a, "model_b": b, "winner": w, "user_id": u})
    return df.astype(string_dtype)


battle_rows = st.lists(
    st.tuples(
        st.sampled_from(NAMES),
        st.sampled_from(NAMES),
        st.sampled_from(sorted(WINNER_CODES)),
        st.sampled_from(["u1", "u2", "u3"]),
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=60, deadline=None)
@given(battle_rows, st.sampled_from(["str", "object"]), st.booleans(), st.booleans())
def test_encoding_matches_a_row_by_row_reference(data, string_dtype, fixed_models, parallel):
    df = frame(data, string_dtype)
    models = sorted(set(NAMES), reverse=True) if fixed_models else None
    threshold = codes.PARALLEL_MIN_ROWS
    codes.PARALLEL_MIN_ROWS = 0 if parallel else 10**9
    try:
        codes.clear_cache()
        arr = encode_battles(df, models=models)
    finally:
        codes.PARALLEL_MIN_ROWS = threshold
    order = models or sorted(set(df["model_a"]) | set(df["model_b"]))
    position = {name: k for k, name in enumerate(order)}
    # pair counts come from the codes before any row is gathered, so compare them first
    expected = BattleArrays.from_lists(
        order,
        [position[x] for x in df["model_a"]],
        [position[x] for x in df["model_b"]],
        [WINNER_CODES[x] for x in df["winner"]],
    )
    np.testing.assert_array_equal(arr.pair_counts(), expected.pair_counts())
    np.testing.assert_array_equal(
        arr.battles_per_model(),
        np.bincount(expected.a, minlength=len(order)) + np.bincount(expected.b, minlength=len(order)),
    )
    assert arr.models == tuple(order)
    assert arr.a.tolist() == expected.a.tolist()
    assert arr.b.tolist() == expected.b.tolist()
    assert arr.outcome.tolist() == expected.outcome.tolist()
    assert [arr.clusters[k] for k in arr.cluster] == list(df["user_id"])
    for got, want in zip(matrices_of_arrays(arr), count_matrices(expected.a, expected.b, expected.outcome, len(order))):
        np.testing.assert_array_equal(got, want)


def test_rank_models_identical_cold_warm_and_serial():
    rng = np.random.default_rng(3)
    n = 30_000  # above PARALLEL_MIN_ROWS: the three columns go to the worker threads
    names = np.array(NAMES[:5])
    a = rng.integers(0, 5, n)
    b = (a + rng.integers(1, 5, n)) % 5
    df = pd.DataFrame(
        {
            "model_a": names[a],
            "model_b": names[b],
            "winner": np.array(["model_a", "model_b", "tie"])[rng.integers(0, 3, n)],
        }
    ).astype("str")
    codes.clear_cache()
    cold = rank_models(df, "bt")
    warm = rank_models(df, "bt")
    old = threads.WORKER_THREADS
    threads.WORKER_THREADS = 1
    try:
        codes.clear_cache()
        serial = rank_models(df, "bt")
    finally:
        threads.WORKER_THREADS = old
    pd.testing.assert_frame_equal(cold, warm)
    pd.testing.assert_frame_equal(cold, serial)
    assert cold["n_battles"].sum() == 2 * n


def test_encoding_errors_still_name_the_rows():
    df = pd.DataFrame({"model_a": ["x", "y", "x"], "model_b": ["y", "x", "z"], "winner": ["model_a", "oops", "tie"]})
    with pytest.raises(Exception, match=r"line 2.*winner|winner.*oops"):
        encode_battles(df.astype("str"))
    with pytest.raises(Exception, match="not in the model list: z"):
        encode_battles(df.assign(winner="tie").astype("str"), models=["x", "y"])
    with pytest.raises(Exception, match="missing model name"):
        encode_battles(df.assign(winner="tie", model_b=["y", None, "z"]))


def test_battle_arrays_are_immutable():
    arr = BattleArrays.from_lists(["x", "y"], [0], [1], [0])
    with pytest.raises(AttributeError):
        arr.a = np.array([1])  # type: ignore[misc]
    with pytest.raises(ValueError):
        arr.pair_counts()[0, 1, 0] = 5
    # lazily gathered battles survive pickling (process pools) with their codes
    coded = encode_battles(pd.DataFrame({"model_a": ["x", "y"], "model_b": ["y", "x"], "winner": ["tie", "model_b"]}))
    copy = pickle.loads(pickle.dumps(coded))
    assert copy.a.tolist() == [0, 1] and copy.outcome.tolist() == [2, 1]
    np.testing.assert_array_equal(copy.pair_counts(), coded.pair_counts())


def test_map_in_workers_keeps_order_reraises_and_runs_nested_calls_inline():
    assert threads.map_in_workers(lambda x: x * x, range(7)) == [x * x for x in range(7)]

    def boom(x):
        if x == 3:
            raise KeyError("three")
        return x

    with pytest.raises(KeyError, match="three"):
        threads.map_in_workers(boom, range(5))

    def nested(x):
        # a worker's own call must not wait on the pool it occupies: it runs in the worker itself
        outer = threading.current_thread().name
        inner = threads.map_in_workers(lambda _: threading.current_thread().name, range(3))
        return outer, inner

    old = threads.WORKER_THREADS
    threads.WORKER_THREADS = 2
    try:
        results = threads.map_in_workers(nested, range(6))
    finally:
        threads.WORKER_THREADS = old
    outers = {outer for outer, _ in results}
    assert threading.current_thread().name in outers  # the caller works too
    for outer, inner in results:
        if outer.startswith("pluralis-worker"):
            assert inner == [outer] * 3


def test_map_in_workers_caller_runs_everything_when_the_workers_are_busy():
    started, release = threading.Event(), threading.Event()

    def occupy(x):
        if x == 0:  # the blocker's own item: wait until the pool thread has started item 1
            return started.wait(10)
        started.set()
        return release.wait(10)

    old = threads.WORKER_THREADS
    threads.WORKER_THREADS = 2  # one pool thread + the caller
    try:
        blocker = threading.Thread(target=threads.map_in_workers, args=(occupy, [0, 1]))
        blocker.start()
        assert started.wait(10)
        names = threads.map_in_workers(lambda _: threading.current_thread().name, range(5))
    finally:
        release.set()
        threads.WORKER_THREADS = old
    blocker.join()
    assert names == [threading.current_thread().name] * 5
