"""Process settings for long full-batch runs (called by the stage scripts, never on import), and
seeds run side by side in worker processes (``map_seeds``)."""
from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor


def keep_freed_memory() -> bool:
    """Ask glibc's malloc to keep freed memory for reuse instead of returning it to the OS.

    PyTorch's CPU tensors come from malloc, which serves every block above 32 MiB with a fresh
    mmap and unmaps it on free: a full-batch K2 step that allocates a few n x n temporaries
    (400 MB each at n = 10,000) then pays their page faults on every step, about a quarter
    of the step's time (``benchmarks/k2_step.py``). With mmap off, trimming off and one arena
    (threads share the freed blocks), freed blocks are reused. Set DEEPSC_MALLOC=default to
    keep glibc's defaults. Returns whether the settings took (False off glibc)."""
    if os.environ.get("DEEPSC_MALLOC", "").lower() == "default":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        M_TRIM_THRESHOLD, M_MMAP_MAX, M_ARENA_MAX = -1, -4, -8
        # mallopt takes a C int: 2**31 - 1 bytes of free heap top are kept, not returned
        return all(libc.mallopt(key, value) == 1 for key, value in
                   ((M_MMAP_MAX, 0), (M_TRIM_THRESHOLD, 2**31 - 1), (M_ARENA_MAX, 1)))
    except (OSError, AttributeError):
        return False


# --- seeds side by side --------------------------------------------------------------------

_TASK: tuple | None = None   # (fn, items) of the running map_seeds, inherited by forked workers


def default_workers(n_items: int, threads: int) -> int:
    """How many processes of ``threads`` threads each this machine's cores hold (at most one per
    item); DEEPSC_WORKERS overrides."""
    env = os.environ.get("DEEPSC_WORKERS", "")
    if env:
        if not env.isdigit() or int(env) < 1:
            raise ValueError(f"DEEPSC_WORKERS={env!r}: give a positive whole number of processes")
        return min(int(env), max(n_items, 1))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(n_items, (cores or 1) // max(threads, 1)))


@contextlib.contextmanager
def thread_limit(threads: int):
    """torch's intra-op threads and the BLAS/OpenMP pools of numpy and scipy at ``threads``."""
    import torch
    from threadpoolctl import threadpool_limits
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with threadpool_limits(threads):
            yield
    finally:
        torch.set_num_threads(before)


def _init_worker(threads: int) -> None:
    import torch
    from threadpoolctl import threadpool_limits
    torch.set_num_threads(threads)
    threadpool_limits(threads)


def _call(i: int):
    fn, items = _TASK
    return fn(items[i])


def map_seeds(fn, items, threads: int = 1, workers: int | None = None) -> list:
    """``[fn(item) for item in items]``, every call on ``threads`` threads, the calls spread
    over ``workers`` processes (default ``default_workers``: on 2 cores and 1 thread, two seeds
    at a time). Every call runs on the same number of threads whatever ``workers`` is, so the
    results do not depend on it (tested): a machine with more cores gives the same numbers
    sooner. Small-batch steps (K1's mini-batches, thin convolutions) use a second thread
    poorly, so two one-thread seeds side by side take about the time of one two-thread seed.

    The workers are forked (``fn`` and ``items`` are inherited, not pickled; only the results
    travel back) and run single- or few-threaded, so they never enter an OpenMP pool the
    parent may hold. Exceptions in a call are raised here."""
    global _TASK
    items = list(items)
    workers = default_workers(len(items), threads) if workers is None else max(1, int(workers))
    if workers == 1 or len(items) <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        with thread_limit(threads):
            return [fn(item) for item in items]
    _TASK = (fn, items)
    try:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"),
                                 initializer=_init_worker, initargs=(threads,)) as pool:
            return list(pool.map(_call, range(len(items))))
    finally:
        _TASK = None
