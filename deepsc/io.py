"""Small I/O helpers: atomic writes (temp file, then rename) and run accounting.

Every artifact a stage writes goes through these, so an interrupted or failed run never
leaves a half-written file behind for DVC to cache.
"""
from __future__ import annotations

import contextlib
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ""):
    """Yield a temporary path beside ``path``; rename it onto ``path`` only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or ".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike):
    """Yield a temporary directory beside ``path``; it replaces ``path`` only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        yield tmp
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def save_torch(obj, path) -> None:
    """torch.save, atomically (``atomic_path``), into an open file. Given a path, torch names
    the archive's inner folder after the file, and the temporary names are random: the same
    weights then gave different bytes on every run, a new DVC hash, and every downstream stage
    ran again. Through a file handle the folder is always 'archive'."""
    import torch

    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        torch.save(obj, fh)


def write_json(path, obj) -> None:
    with atomic_path(path, ".json") as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=_jsonable) + "\n")


def read_json(path):
    return json.loads(Path(path).read_text())


def write_npz(path, **arrays) -> None:
    with atomic_path(path, ".npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)


def _jsonable(x):
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, Path):
        return str(x)
    raise TypeError(f"not JSON serialisable: {type(x)!r}")


class NpyRows:
    """The rows of a .npy file, read from disk on each slice (no memory map, no copy of the
    whole array): `len`, `shape`, `dtype` and `rows[a:b]`. A memory map would do the same job,
    but every page it touches counts towards the process's RSS until the map is dropped, so
    memory would grow with the file; here only the slice asked for is resident."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        with open(self.path, "rb") as f:
            try:
                version = np.lib.format.read_magic(f)
                read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                               else np.lib.format.read_array_header_2_0)
                shape, fortran, self.dtype = read_header(f)
            except ValueError as err:
                raise ValueError(f"{self.path}: not a readable .npy file ({err}); "
                                 "write it with numpy.save") from err
            if fortran or self.dtype.hasobject:
                raise ValueError(f"{self.path}: rows can only be read from a C-ordered numeric "
                                 ".npy; re-save it with numpy.save(np.ascontiguousarray(x))")
            self.offset = f.tell()
        self.shape = tuple(shape)
        self.row_items = int(np.prod(self.shape[1:], dtype=np.int64))
        if self.offset + len(self) * self.row_items * self.dtype.itemsize > self.path.stat().st_size:
            raise ValueError(f"{self.path}: truncated (the header promises shape {self.shape})")

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, idx) -> np.ndarray:
        if not isinstance(idx, slice) or idx.step not in (None, 1):
            raise TypeError("NpyRows supports contiguous slices rows[a:b] only")
        start, stop, _ = idx.indices(len(self))
        n = max(stop - start, 0)
        with open(self.path, "rb") as f:
            f.seek(self.offset + start * self.row_items * self.dtype.itemsize)
            out = np.fromfile(f, dtype=self.dtype, count=n * self.row_items)
        return out.reshape((n,) + self.shape[1:])


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, in MiB.

    Linux: VmHWM of /proc/self/status, the high-water mark of this program's own address space.
    Not ru_maxrss: that survives fork + exec, so a child process would report its parent's peak
    whenever the parent's was higher. Elsewhere ru_maxrss (KiB on Linux, bytes on macOS).
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 1024.0


class Stopwatch:
    """Wall time and peak RSS of a block, for the per-stage timing reports."""

    def __enter__(self):
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.t0
        self.peak_rss_mib = peak_rss_mib()
        return False

    def as_dict(self) -> dict:
        return {"wall_s": round(self.seconds, 2), "peak_rss_mib": round(self.peak_rss_mib, 1)}
