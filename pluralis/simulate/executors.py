"""Where persona work runs: in this process, on a local process pool (default), or on a Ray cluster.

Work is split into *chunks* whose seeds are derived from the run's seed and the chunk's index
only (``numpy.random.SeedSequence(seed, spawn_key=(k,))``), never from the worker that runs it,
so every executor gives bit-identical results for the same inputs.

* ``"serial"``  — a plain loop in this process (tests, small jobs).
* ``"process"`` — :class:`concurrent.futures.ProcessPoolExecutor` on this machine (the default
  for more than one chunk; ``"auto"`` picks ``"serial"`` for a single chunk).
* ``"ray"``     — ``ray.remote`` tasks. Connects to ``ray.init(address=...)`` when given
  (``RAY_ADDRESS`` is honoured by Ray itself), otherwise starts a local Ray. Pass
  ``ray_init={"num_cpus": 1}`` (tests) or ``{"local_mode": True}`` on Ray versions that still
  support it. Ray is optional: ``pip install "ray>=2.9"``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from pluralis.errors import ConfigError

EXECUTORS: tuple[str, ...] = ("auto", "serial", "process", "ray")


def check_executor(executor: str) -> str:
    """Validate an executor name.

    Parameters
    ----------
    executor
        ``"auto"``, ``"serial"``, ``"process"`` or ``"ray"``.

    Returns
    -------
    str

    Example
    -------
    >>> check_executor("ray")
    'ray'
    """
    if executor not in EXECUTORS:
        raise ConfigError(f"unknown executor {executor!r}; expected one of {', '.join(EXECUTORS)}")
    return executor


def default_workers() -> int:
    """Worker processes for the local pool: the usable CPUs (at least 1).

    Returns
    -------
    int

    Example
    -------
    >>> default_workers() >= 1
    True
    """
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


def _import_ray():
    try:
        import ray
    except ImportError as e:
        raise ConfigError(
            f"executor 'ray' needs Ray, which is not importable ({e}); install it with: pip install 'ray>=2.9'"
        ) from None
    return ray


def map_chunks(
    fn: Callable[..., Any],
    chunks: Sequence[tuple],
    *,
    executor: str = "auto",
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
    ray_address: str | None = None,
    ray_init: dict | None = None,
) -> list[Any]:
    """``[fn(*args) for args in chunks]``, run on the chosen executor, results in chunk order.

    ``fn`` must be a module-level function (picklable). ``progress(1)`` is called as each
    chunk finishes.

    Parameters
    ----------
    fn
        the function.
    chunks
        its argument tuples.
    executor, workers
        where to run (see :func:`check_executor`) and how many processes.
    progress
        called with 1 per finished chunk.
    ray_address, ray_init
        Ray cluster address and ``ray.init`` options.

    Returns
    -------
    list

    Example
    -------
    >>> map_chunks(pow, [(2, 3), (3, 2)], executor="serial")
    [8, 9]
    """
    check_executor(executor)
    n = len(chunks)
    workers = workers or default_workers()
    if executor == "auto":
        executor = "serial" if n <= 1 or workers <= 1 else "process"
    if executor == "serial":
        out = []
        for args in chunks:
            out.append(fn(*args))
            if progress:
                progress(1)
        return out
    if executor == "process":
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        # fork is fastest where it is safe (Linux, no threads of ours yet); spawn elsewhere
        method = "fork" if "fork" in mp.get_all_start_methods() and os.name == "posix" else "spawn"
        results: list[Any] = [None] * n
        if method == "fork":
            import gc

            gc.freeze()  # children then leave the parent's objects alone (no copy-on-write churn from GC)
        with ProcessPoolExecutor(max_workers=min(workers, n), mp_context=mp.get_context(method)) as pool:
            futures = {pool.submit(fn, *args): i for i, args in enumerate(chunks)}
            from concurrent.futures import as_completed

            for fut in as_completed(futures):
                results[futures[fut]] = fut.result()
                if progress:
                    progress(1)
        if method == "fork":
            import gc

            gc.unfreeze()
        return results
    ray = _import_ray()
    started = False
    if not ray.is_initialized():
        kwargs = dict(ray_init or {})
        if ray_address:
            kwargs["address"] = ray_address
        kwargs.setdefault("include_dashboard", False)
        kwargs.setdefault("log_to_driver", False)
        kwargs.setdefault("ignore_reinit_error", True)
        ray.init(**kwargs)
        started = True
    try:
        remote = ray.remote(fn)
        refs = [remote.remote(*args) for args in chunks]
        index = {ref: i for i, ref in enumerate(refs)}
        results = [None] * n
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                results[index[ref]] = ray.get(ref)
                if progress:
                    progress(1)
        return results
    finally:
        if started:
            ray.shutdown()
