"""Readers for the raw files that ``sources.resolve`` put in place.

Each loader checks what it reads (magic numbers, shapes, per-class counts) and raises
``DataCorrupt`` naming the file and what to do, so a truncated or foreign file never turns
into a silently wrong dataset.
"""
from __future__ import annotations

import gzip
import tarfile
import zipfile
import zlib
from pathlib import Path

import numpy as np

from .sources import DataCorrupt

BBC_CLASSES = ("business", "entertainment", "politics", "sport", "tech")
BBC_COUNTS = {"business": 510, "entertainment": 386, "politics": 417, "sport": 511, "tech": 401}


def read_idx(path: Path) -> np.ndarray:
    """Read a gzip-compressed idx file (MNIST format) into a uint8 array."""
    path = Path(path)
    try:
        with gzip.open(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise DataCorrupt(f"{path}: not a readable gzip file ({exc}); delete it and fetch again.") from exc
    if len(raw) < 8 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataCorrupt(f"{path}: wrong magic number {raw[:4].hex()}; expected an idx file of unsigned bytes.")
    ndim = raw[3]
    header = 4 + 4 * ndim
    dims = tuple(int.from_bytes(raw[4 + 4 * k: 8 + 4 * k], "big") for k in range(ndim))
    expected = int(np.prod(dims))
    if len(raw) - header != expected:
        raise DataCorrupt(f"{path}: idx header says {dims} ({expected} bytes) but the file holds "
                          f"{len(raw) - header}; it is truncated or corrupt, fetch it again.")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def load_idx_split(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """MNIST / Fashion-MNIST: ``split`` is 'train' (60k) or 't10k'/'test' (10k)."""
    prefix = {"train": "train", "test": "t10k", "t10k": "t10k"}.get(split)
    if prefix is None:
        raise ValueError(f"unknown split {split!r}; use 'train' or 'test'")
    folder = Path(folder)
    images = read_idx(folder / f"{prefix}-images-idx3-ubyte.gz")
    labels = read_idx(folder / f"{prefix}-labels-idx1-ubyte.gz")
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DataCorrupt(f"{folder}: {prefix} images {images.shape} and labels {labels.shape} do not match.")
    return images, labels.astype(np.int64)


def _bbc_members(path: Path):
    """Yield (relative path, bytes) for every member of a BBC archive or folder."""
    if path.is_dir():
        for p in sorted(path.rglob("*.txt")):
            yield p.relative_to(path).as_posix(), p.read_bytes()
    elif path.name.endswith(".zip"):
        with zipfile.ZipFile(path) as zf:
            for info in sorted(zf.infolist(), key=lambda i: i.filename):
                if not info.is_dir():
                    yield info.filename, zf.read(info)
    else:
        with tarfile.open(path, "r:*") as tf:
            for m in sorted(tf.getmembers(), key=lambda m: m.name):
                if m.isfile():
                    yield m.name, tf.extractfile(m).read()


def load_bbc(path: Path) -> tuple[list[str], np.ndarray, tuple[str, ...]]:
    """BBC News full text: 2,225 documents in five classes, checked against the known counts."""
    path = Path(path)
    docs, labels = [], []
    try:
        for name, data in _bbc_members(path):
            parts = name.split("/")
            if len(parts) < 2 or parts[-2] not in BBC_CLASSES or not parts[-1].endswith(".txt"):
                continue
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:  # sport/199.txt carries one raw Latin-1 byte
                text = data.decode("latin-1")
            docs.append(text)
            labels.append(BBC_CLASSES.index(parts[-2]))
    except (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:
        raise DataCorrupt(f"{path}: cannot read the BBC archive ({exc}); it is truncated or corrupt, "
                          f"delete it and fetch again.") from exc
    labels = np.asarray(labels, dtype=np.int64)
    found = {c: int((labels == k).sum()) for k, c in enumerate(BBC_CLASSES)}
    if found != BBC_COUNTS:
        raise DataCorrupt(f"{path}: BBC documents per class {found}, expected {BBC_COUNTS}; "
                          f"the archive is incomplete or not bbc-fulltext.")
    return docs, labels, BBC_CLASSES


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled 8x8 digits (1,797 images), scaled to [0, 1]."""
    from sklearn.datasets import load_digits as _ld

    d = _ld()
    return (d.images / 16.0).astype(np.float32), d.target.astype(np.int64)


