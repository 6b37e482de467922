"""Readers for the raw files that ``sources.resolve`` put in place.

Each loader checks what it reads (magic numbers, shapes, per-class counts) and raises
``DataCorrupt`` naming the file and what to do, so a truncated or foreign file never turns
into a silently wrong dataset.
"""
from __future__ import annotations

import gzip
import io
import tarfile
import zipfile
import zlib
from pathlib import Path

import numpy as np

from .sources import DataCorrupt

# what a truncated or corrupt archive raises while it is read
ARCHIVE_ERRORS = (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError, zlib.error)

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


def load_bbc(path: Path) -> tuple[list[str], np.ndarray, tuple[str, ...]]:
    """BBC News full text: 2,225 documents in five classes, checked against the known counts."""
    path = Path(path)
    docs, labels = [], []
    try:
        for name, data in _archive_files(path, ".txt"):
            parts = name.split("/")
            if len(parts) < 2 or parts[-2] not in BBC_CLASSES or not parts[-1].endswith(".txt"):
                continue
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:  # sport/199.txt carries one raw Latin-1 byte
                text = data.decode("latin-1")
            docs.append(text)
            labels.append(BBC_CLASSES.index(parts[-2]))
    except ARCHIVE_ERRORS as exc:
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




# --- 20 Newsgroups ("bydate") ---------------------------------------------------------------

NEWS20_COUNTS = {  # (train, test) per group, shared/data/MANIFEST.md
    "alt.atheism": (480, 319), "comp.graphics": (584, 389), "comp.os.ms-windows.misc": (591, 394),
    "comp.sys.ibm.pc.hardware": (590, 392), "comp.sys.mac.hardware": (578, 385),
    "comp.windows.x": (593, 395), "misc.forsale": (585, 390), "rec.autos": (594, 396),
    "rec.motorcycles": (598, 398), "rec.sport.baseball": (597, 397), "rec.sport.hockey": (600, 399),
    "sci.crypt": (595, 396), "sci.electronics": (591, 393), "sci.med": (594, 396),
    "sci.space": (593, 394), "soc.religion.christian": (599, 398), "talk.politics.guns": (546, 364),
    "talk.politics.mideast": (564, 376), "talk.politics.misc": (465, 310),
    "talk.religion.misc": (377, 251),
}
NEWS20_GROUPS = tuple(sorted(NEWS20_COUNTS))


def _news20_members(path: Path):
    """Yield (split, group, bytes) from the tarball or the extracted folders."""
    if path.is_dir():
        for split in ("train", "test"):
            for p in sorted((path / f"20news-bydate-{split}").glob("*/*")):
                if p.is_file():
                    yield split, p.parent.name, p.read_bytes()
        return
    with tarfile.open(path, "r:*") as tf:
        for m in tf:
            parts = m.name.strip("./").split("/")
            if m.isfile() and len(parts) >= 3 and parts[-3].startswith("20news-bydate-"):
                yield parts[-3].rsplit("-", 1)[1], parts[-2], tf.extractfile(m).read()


def load_newsgroups20(path: Path) -> tuple[list[str], np.ndarray, np.ndarray, tuple[str, ...]]:
    """All 18,846 documents: (docs, group labels, split labels 0=train/1=test, group names).

    ``path`` is ``20news-bydate.tar.gz``, a folder holding the extracted
    ``20news-bydate-{train,test}/`` trees, or a scikit-learn data home whose
    ``fetch_20newsgroups`` cache is filled. Read as Latin-1, as scikit-learn does; the counts
    per group and split are checked against the canonical ones.
    """
    path = Path(path)
    if path.is_dir() and (path / "20news-bydate.tar.gz").is_file():
        path = path / "20news-bydate.tar.gz"
    docs, groups, splits = [], [], []
    if path.is_dir() and not (path / "20news-bydate-train").is_dir():
        from sklearn.datasets import fetch_20newsgroups

        try:
            for k, split in enumerate(("train", "test")):
                b = fetch_20newsgroups(data_home=str(path), subset=split, download_if_missing=False,
                                       remove=())
                docs += list(b.data)
                groups += [b.target_names[t] for t in b.target]
                splits += [k] * len(b.data)
        except OSError as exc:
            raise DataCorrupt(f"{path}: no 20 Newsgroups tarball, folders or scikit-learn cache "
                              f"there ({exc}).") from exc
    else:
        try:
            for split, group, data in _news20_members(path):
                if group not in NEWS20_COUNTS:
                    continue
                text = data.decode("latin-1")
                if not text.strip():
                    raise DataCorrupt(f"{path}: an empty document in 20news-bydate-{split}/{group}; "
                                      f"the copy is damaged, fetch it again.")
                docs.append(text)
                groups.append(group)
                splits.append(0 if split == "train" else 1)
        except ARCHIVE_ERRORS as exc:
            raise DataCorrupt(f"{path}: cannot read the 20 Newsgroups archive ({exc}); it is "
                              f"truncated or corrupt, delete it and fetch again.") from exc
    labels = np.array([NEWS20_GROUPS.index(g) for g in groups], dtype=np.int64)
    splits = np.asarray(splits, dtype=np.int64)
    found = {g: (int(((labels == k) & (splits == 0)).sum()), int(((labels == k) & (splits == 1)).sum()))
             for k, g in enumerate(NEWS20_GROUPS)}
    if found != NEWS20_COUNTS:
        bad = {g: (found[g], NEWS20_COUNTS[g]) for g in NEWS20_GROUPS if found[g] != NEWS20_COUNTS[g]}
        raise DataCorrupt(f"{path}: 20 Newsgroups (train, test) counts differ from the canonical ones "
                          f"(found, expected): {bad}; the copy is incomplete.")
    return docs, labels, splits, NEWS20_GROUPS


# --- image folders and archives: notMNIST, Omniglot, miniImageNet --------------------------

NOTMNIST_CLASSES = tuple("ABCDEFGHIJ")


def _decode_png(data: bytes):
    """Grayscale float image in [0, 1], or None when the bytes are not a readable image."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            return np.asarray(im.convert("L"), dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return None


def _archive_files(path: Path, suffix: str):
    """Yield (relative path, bytes) for files ending in ``suffix`` in a folder, tar or zip,
    sorted by path so the order (and every array built from it) is the same for each form."""
    if path.is_dir():
        for p in sorted(path.rglob(f"*{suffix}")):
            yield p.relative_to(path).as_posix(), p.read_bytes()
    elif zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            for info in sorted(zf.infolist(), key=lambda i: i.filename):
                if info.filename.endswith(suffix):
                    yield info.filename, zf.read(info)
    else:
        with tarfile.open(path, "r:*") as tf:
            for m in sorted(tf.getmembers(), key=lambda m: m.name):
                if m.isfile() and m.name.endswith(suffix):
                    yield m.name, tf.extractfile(m).read()


def load_notmnist(path: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """notMNIST (small): letters A-J, 28x28 PNGs, from ``notMNIST_small.tar.gz`` or the folders.

    Unreadable PNGs (two in the canonical set) are skipped and returned by name, not fatal.
    Returns (images (n, 28, 28) in [0, 1], labels, skipped file names).
    """
    path = Path(path)
    images, labels, skipped = [], [], []
    try:
        for name, data in _archive_files(path, ".png"):
            parts = name.split("/")
            if len(parts) < 2 or parts[-2] not in NOTMNIST_CLASSES:
                continue
            img = _decode_png(data)
            if img is None or img.shape != (28, 28):
                skipped.append(name)
                continue
            images.append(img)
            labels.append(NOTMNIST_CLASSES.index(parts[-2]))
    except ARCHIVE_ERRORS as exc:
        raise DataCorrupt(f"{path}: cannot read the notMNIST archive ({exc}); it is truncated or "
                          f"corrupt, fetch it again.") from exc
    labels = np.asarray(labels, dtype=np.int64)
    missing = [c for k, c in enumerate(NOTMNIST_CLASSES) if not (labels == k).any()]
    if missing:
        raise DataCorrupt(f"{path}: notMNIST class folder(s) {missing} missing or empty; expected "
                          f"A..J each holding PNGs.")
    return np.stack(images), labels, skipped


def load_omniglot(paths) -> tuple[np.ndarray, np.ndarray, tuple[str, ...], list[str]]:
    """Omniglot from ``images_background*.zip`` / ``images_evaluation.zip`` files or folders.

    A class is one character of one alphabet ("Alphabet/characterNN"); the same character
    present in two archives (Greek and Latin are in both "small" subsets) is counted once.
    Images are inverted so strokes are 1 on a 0 background, like MNIST.
    Returns (images (n, 105, 105), labels, class names, skipped files).
    """
    seen, images, classes, skipped = set(), [], [], []
    for path in map(Path, paths):
        try:
            for name, data in _archive_files(path, ".png"):
                parts = name.split("/")
                if len(parts) < 3:
                    continue
                key = (parts[-3], parts[-2], parts[-1])
                if key in seen:
                    continue
                seen.add(key)
                img = _decode_png(data)
                if img is None:
                    skipped.append(name)
                    continue
                images.append(1.0 - img)
                classes.append(f"{parts[-3]}/{parts[-2]}")
        except ARCHIVE_ERRORS as exc:
            raise DataCorrupt(f"{path}: cannot read the Omniglot archive ({exc}); fetch it again.") from exc
    if not images:
        raise DataCorrupt(f"{[str(p) for p in paths]}: no Omniglot images found "
                          f"(expected <Alphabet>/characterNN/*.png).")
    names = tuple(sorted(set(classes)))
    lookup = {c: k for k, c in enumerate(names)}
    return np.stack(images), np.array([lookup[c] for c in classes], dtype=np.int64), names, skipped


def load_miniimagenet(path: Path) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """miniImageNet from the usual pickle caches or from class folders of images.

    ``path`` is a ``mini-imagenet-cache-{train,val,test}.pkl`` file (a dict with
    ``image_data`` (N, 84, 84, 3) uint8 and ``class_dict`` {wnid: [indices]}), a folder holding
    such pickles (all are read), or a folder of ``<wnid>/*.jpg|png`` class folders.
    Returns (RGB images uint8 (N, H, W, 3), labels, class names).
    """
    import pickle

    path = Path(path)
    pickles = [path] if path.is_file() else sorted(path.glob("mini-imagenet-cache-*.pkl"))
    images, labels, names = [], [], []
    if pickles:
        for pk in pickles:
            try:
                with open(pk, "rb") as fh:
                    d = pickle.load(fh)
                data, class_dict = np.asarray(d["image_data"]), d["class_dict"]
            except (pickle.UnpicklingError, EOFError, KeyError, OSError, TypeError) as exc:
                raise DataCorrupt(f"{pk}: not a miniImageNet cache (expected a pickle with "
                                  f"'image_data' and 'class_dict'): {exc!r}") from exc
            if data.ndim != 4 or data.shape[-1] != 3:
                raise DataCorrupt(f"{pk}: image_data has shape {data.shape}, expected (N, H, W, 3)")
            for wnid, idx in sorted(class_dict.items()):
                names.append(wnid)
                images.append(data[np.asarray(idx)])
                labels.append(np.full(len(idx), len(names) - 1))
    else:
        from PIL import Image

        for k, folder in enumerate(sorted(p for p in path.iterdir() if p.is_dir())):
            files = sorted(f for f in folder.iterdir() if f.suffix.lower() in (".jpg", ".jpeg", ".png"))
            imgs = []
            for f in files:
                with Image.open(f) as im:
                    imgs.append(np.asarray(im.convert("RGB").resize((84, 84), Image.BILINEAR)))
            names.append(folder.name)
            images.append(np.stack(imgs) if imgs else np.zeros((0, 84, 84, 3), np.uint8))
            labels.append(np.full(len(imgs), k))
        if not names:
            raise DataCorrupt(f"{path}: no miniImageNet pickles or class folders found.")
    return np.concatenate(images), np.concatenate(labels).astype(np.int64), tuple(names)
