"""One BLAS thread around many small dense solves, and the worker threads of chunked work.

The one home of thread settings for the analyses: the ranking engine (PRC's stationary distributions,
Bradley–Terry's Newton steps: batches of small ``n x n`` ``numpy.linalg.solve`` calls), welfare's
imputation and draws, and the reward models' skinny L-BFGS solves. A multi-threaded BLAS splits each tiny
solve across threads and spends its time synchronising them: with numpy's default OpenBLAS
threads on a 2-core machine, 200 solves of 150 x 150 ran 10-30x slower than with one thread
(``benchmarks/bench_threads.py`` measures it under default settings). :func:`blas_threads`
limits BLAS to :data:`BLAS_THREADS` threads for the duration of such a section and restores the
previous setting afterwards; it reuses one :class:`threadpoolctl.ThreadpoolController`, made on
first use (it controls the BLAS libraries loaded by then: numpy's, which these solves use), so
entering it costs microseconds, not the millisecond of a fresh library scan.

Example
-------
>>> import numpy as np
>>> with blas_threads():
...     x = np.linalg.solve(np.eye(3)[None].repeat(4, axis=0), np.ones((4, 3, 1)))
>>> x.shape
(4, 3, 1)
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

__all__ = [
    "BLAS_THREADS",
    "SMALL_MATRIX",
    "WORKER_THREADS",
    "available_cores",
    "blas_threads",
    "map_in_workers",
    "worker_threads",
]

_T = TypeVar("_T")
_R = TypeVar("_R")

#: BLAS threads inside :func:`blas_threads` sections; ``None`` leaves the library's setting alone
#: (the benchmark sets it to ``None`` to time the unpinned default).
BLAS_THREADS: int | None = 1

#: Threads that work on independent chunks of a bootstrap at once (:func:`worker_threads`); ``None`` =
#: the available cores. numpy's sampling and linear algebra release the GIL, so the chunks run in parallel.
WORKER_THREADS: int | None = None

_controller: Any = None
_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_POOL_PREFIX = "pluralis-worker"
_lock = threading.Lock()
_depth = 0
_limited: Any = None


def _blas_controller() -> Any:
    """The cached threadpoolctl controller of the loaded BLAS libraries (None without threadpoolctl)."""
    global _controller
    if _controller is None:
        try:
            from threadpoolctl import ThreadpoolController

            _controller = ThreadpoolController().select(user_api="blas")
        except Exception:  # pragma: no cover - threadpoolctl missing or unsupported platform
            _controller = False
    return _controller or None


#: Matrices up to this order are factorised on one thread by OpenBLAS itself (batched solves of
#: 21 x 21 and 64 x 64 took the same time pinned and unpinned on 2 cores; 100 x 100 took 15x longer
#: unpinned), so :func:`blas_threads` with ``size`` at or below it skips the limit-and-restore.
SMALL_MATRIX = 64


@contextmanager
def blas_threads(limit: int | None = None, *, size: int | None = None) -> Iterator[None]:
    """Limit BLAS to ``limit`` threads (default :data:`BLAS_THREADS`) inside the ``with`` block.

    Parameters
    ----------
    limit
        the number of BLAS threads; ``None`` takes :data:`BLAS_THREADS` (and does nothing when
        that is ``None`` too).
    size
        the order of the matrices the section solves, when known: at most :data:`SMALL_MATRIX`,
        nothing is changed (the library runs them on one thread anyway; setting and restoring
        the limit costs ~40 us, a tenth of a one-off 21-model Bradley-Terry fit).

    Yields
    ------
    None
        the previous thread counts are restored on exit, also after an error.

    Example
    -------
    >>> with blas_threads(1):
    ...     inside = {lib["num_threads"] for lib in _blas_controller().info()}
    >>> inside <= {1}
    True
    """
    n = BLAS_THREADS if limit is None else limit
    if size is not None and size <= SMALL_MATRIX:
        n = None
    controller = _blas_controller() if n is not None else None
    if controller is None or not controller.lib_controllers:
        yield
        return
    global _depth, _limited
    # threadpoolctl's limits are process-wide: sections entered together from several threads (the
    # parallel bootstrap's workers) share the first one's limit and the last to leave restores it,
    # instead of one worker restoring the default while another is still solving.
    with _lock:
        if _depth == 0:
            _limited = controller.limit(limits=n)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _limited is not None:
                _limited.restore_original_limits()
                _limited = None


def worker_threads() -> int:
    """Threads for work split into independent chunks (the bootstrap's resamples).

    :data:`WORKER_THREADS`, or when that is ``None`` the cores this process may run on (at most 8).

    Returns
    -------
    int

    Example
    -------
    >>> worker_threads() >= 1
    True
    """
    if WORKER_THREADS is not None:
        return max(1, int(WORKER_THREADS))
    return min(8, available_cores())


def available_cores() -> int:
    """The CPU cores this process may run on (its affinity mask where the platform has one).

    Returns
    -------
    int

    Example
    -------
    >>> 1 <= available_cores() <= (os.cpu_count() or 1)
    True
    """
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def map_in_workers(fn: Callable[[_T], _R], items: Iterable[_T]) -> list[_R]:
    """``[fn(x) for x in items]``, shared between the calling thread and the process's worker threads.

    One pool of ``worker_threads() - 1`` threads lives for the process, so a call costs the
    hand-over to its threads (tens of microseconds) instead of starting threads each time: worth it
    for work of a millisecond or more per item that releases the GIL (numpy, LAPACK, pyarrow
    compute). The caller works too: it runs the first item, then takes back, last first, the items
    no worker has started and runs them itself, so on a machine whose other cores are busy the call
    costs about what the plain loop costs instead of waiting for a worker to be scheduled. It runs
    in the calling thread alone when there is one item, one worker thread, or when called from one
    of the pool's own threads (a nested call waiting on its own pool could deadlock).

    Parameters
    ----------
    fn
        the function applied to each item.
    items
        the inputs.

    Returns
    -------
    list
        the results, in the order of ``items``; the first error raised by ``fn`` is re-raised.

    Example
    -------
    >>> map_in_workers(len, ["a", "bb", "ccc"])
    [1, 2, 3]
    """
    items = list(items)
    threads = worker_threads()
    if threads <= 1 or len(items) <= 1 or threading.current_thread().name.startswith(_POOL_PREFIX):
        return [fn(x) for x in items]
    global _pool, _pool_size
    with _lock:
        if _pool is None or _pool_size != threads - 1:
            old, _pool, _pool_size = _pool, None, threads - 1
            if old is not None:
                old.shutdown(wait=False)
            _pool = ThreadPoolExecutor(_pool_size, thread_name_prefix=_POOL_PREFIX)
        pool = _pool
    futures = [pool.submit(fn, x) for x in items[1:]]
    try:
        results: list[Any] = [fn(items[0])] + [None] * len(futures)
        for k in range(len(futures) - 1, -1, -1):  # workers take from the front, the caller from the back
            if futures[k].cancel():  # not started: the caller runs it
                results[k + 1] = fn(items[k + 1])
        for k, future in enumerate(futures):
            if not future.cancelled():
                results[k + 1] = future.result()
    except BaseException:
        for future in futures:
            future.cancel()
        raise
    return results
