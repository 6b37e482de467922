"""Raw files -> prepared arrays, following the papers' protocols (one function per source).

``prepare(name, cfg, raw)`` takes a dataset's settings (a plain dict, e.g. one entry of
``data.datasets`` in params.yaml) and a function ``raw(source) -> Path`` that locates a
source's fetched files. It returns a ``Prepared``: features X (what models see), labels y
(evaluation only), optional meta data (external data in the same feature space, with its
labels, which the papers' protocols may use), and an info dict for the data report.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from . import loaders
from .features import resize_images, sample_per_class, tfidf_svd, tfidf_svd_shared, to_grayscale


@dataclass
class Prepared:
    X: np.ndarray
    y: np.ndarray
    info: dict
    meta_X: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.float32))
    meta_y: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.int64))


def _counts(y: np.ndarray, names) -> dict:
    return {str(n): int(c) for n, c in zip(names, np.bincount(y, minlength=len(names)))}


def _images(name: str, cfg: dict, images: np.ndarray, labels: np.ndarray, names, extra: dict) -> Prepared:
    """Sample n_per_class (param), resize to cfg['size'] (param 'resize' names the method)."""
    raw_counts = _counts(labels, names)
    try:
        idx = sample_per_class(labels, cfg.get("n_per_class"), cfg.get("seed", 0))
    except ValueError as exc:
        raise ValueError(f"data.datasets.{name}: {exc}; lower n_per_class") from None
    X = resize_images(images[idx], int(cfg["size"]), cfg.get("resize", "bilinear"))
    y = labels[idx]
    return Prepared(X, y, {"raw_counts_per_class": raw_counts, "size": cfg["size"],
                           "resize": cfg.get("resize", "bilinear"), **extra})


def _text_groups(cfg: dict, groups: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """Target and meta groups of 20 Newsgroups: ``target_groups`` drawn with ``groups_seed``."""
    k = int(cfg["target_groups"])
    if not 1 <= k < len(groups):
        raise ValueError(f"target_groups={k} must be between 1 and {len(groups) - 1}")
    rng = np.random.default_rng(int(cfg.get("groups_seed", 0)))
    target = sorted(rng.choice(groups, size=k, replace=False).tolist())
    return target, [g for g in groups if g not in target]


def prepare(name: str, cfg: dict, raw: Callable[[str], Path]) -> Prepared:
    source = cfg["source"]
    if source == "digits":
        images, labels = loaders.load_digits()
        return _images(name, cfg, images, labels, range(10), {})
    if source in ("fashion_mnist", "mnist"):
        images, labels = loaders.load_idx_split(raw(source), cfg.get("split", "test"))
        return _images(name, cfg, images.astype(np.float32) / 255.0, labels, range(10),
                       {"split": cfg.get("split", "test")})
    if source == "notmnist":
        folder = raw(source)
        archive = next((p for p in sorted(folder.iterdir()) if p.name.startswith("notMNIST")), folder)
        images, labels, skipped = loaders.load_notmnist(archive)
        return _images(name, cfg, images, labels, loaders.NOTMNIST_CLASSES,
                       {"skipped_unreadable": len(skipped), "skipped_files": skipped})
    if source == "omniglot_small":
        folder = raw(source)
        images, labels, names, skipped = loaders.load_omniglot(sorted(folder.glob("images_*.zip")))
        return _images(name, cfg, images, labels, names,
                       {"n_classes": len(names), "skipped_unreadable": len(skipped)})
    if source == "miniimagenet":
        rgb, labels, names = loaders.load_miniimagenet(raw(source))
        return _images(name, cfg, to_grayscale(rgb), labels, names,
                       {"n_classes": len(names), "grayscale": "ITU-R 601 luma"})
    if source == "bbc":
        folder = raw(source)
        archive = next((p for p in sorted(folder.iterdir()) if p.name.startswith("bbc-fulltext")),
                       folder / "bbc")
        docs, labels, classes = loaders.load_bbc(archive)
        return _text(cfg, docs, labels, classes, raw)
    if source == "newsgroups20":
        docs, labels, _, groups = loaders.load_newsgroups20(raw(source))
        target, _ = _text_groups(cfg, groups)
        keep = np.isin(np.asarray(groups)[labels], target)
        y = np.array([target.index(groups[t]) for t in labels[keep]], dtype=np.int64)
        prep = _text(cfg, [d for d, k in zip(docs, keep) if k], y, target, raw,
                     exclude=target)
        prep.info["target_groups"] = target
        return prep
    raise ValueError(f"data.datasets.{name}: unknown source {source!r}")


def _text(cfg: dict, docs: list[str], labels: np.ndarray, classes, raw, exclude=()) -> Prepared:
    """TF-IDF + TruncatedSVD; with ``meta`` set, one space shared with the meta corpus."""
    kw = {"min_df": cfg.get("min_df", 2), "max_df": cfg.get("max_df", 0.5)}
    counts = _counts(labels, classes)
    for doc_id, d in enumerate(docs):
        if not d.strip():
            raise ValueError(f"document {doc_id} of class {classes[labels[doc_id]]} is empty")
    meta = cfg.get("meta")
    if not meta:
        X, info = tfidf_svd(docs, int(cfg["svd_dim"]), int(cfg.get("seed", 0)), **kw)
        return Prepared(X, labels, {**info, "raw_counts_per_class": counts})
    if meta != "newsgroups20":
        raise ValueError(f"meta corpus {meta!r} unsupported for text; use 'newsgroups20'")
    mdocs, mlabels, _, groups = loaders.load_newsgroups20(raw("newsgroups20"))
    keep = ~np.isin(np.asarray(groups)[mlabels], list(exclude))
    mdocs = [d for d, k in zip(mdocs, keep) if k]
    meta_groups = [g for g in groups if g not in exclude]
    my = np.array([meta_groups.index(groups[t]) for t in mlabels[keep]], dtype=np.int64)
    X, MX, info = tfidf_svd_shared(docs, mdocs, int(cfg["svd_dim"]), int(cfg.get("seed", 0)),
                                   fit_on=cfg.get("fit_on", "union"), **kw)
    return Prepared(X, labels, {**info, "raw_counts_per_class": counts, "meta_groups": meta_groups},
                    meta_X=MX, meta_y=my)
