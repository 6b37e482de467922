"""Process settings for long full-batch runs (called by the stage scripts, never on import)."""
from __future__ import annotations

import ctypes
import os


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
