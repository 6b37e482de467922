"""Prepared features: TF-IDF + TruncatedSVD for text, resizing and sampling for images."""
from __future__ import annotations

import numpy as np

# torch (images) and scikit-learn (text) are imported where they are used: a prepare@ stage
# of one kind then never pays the other's import (2-3 s each, per stage, on a 2-core CPU)


def tfidf_svd(docs: list[str], dim: int, seed: int, *, min_df=2, max_df=0.5,
              max_features=None, l2_normalize=True) -> tuple[np.ndarray, dict]:
    """TF-IDF (English stop words, sublinear tf) then TruncatedSVD to ``dim``; no labels used."""
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.preprocessing import normalize
    vec = TfidfVectorizer(stop_words="english", sublinear_tf=True, min_df=min_df, max_df=max_df,
                          max_features=max_features, dtype=np.float64)
    tfidf = vec.fit_transform(docs)
    if dim >= min(tfidf.shape):
        raise ValueError(f"svd dim {dim} must be below min(n_docs, vocabulary) = {min(tfidf.shape)}")
    svd = TruncatedSVD(n_components=dim, algorithm="randomized", n_iter=7, random_state=seed)
    X = svd.fit_transform(tfidf)
    if l2_normalize:
        X = normalize(X)
    info = {"n_docs": len(docs), "vocabulary": len(vec.vocabulary_), "dim": dim,
            "explained_variance": round(float(svd.explained_variance_ratio_.sum()), 4)}
    return X.astype(np.float32), info


def resize_images(images: np.ndarray, size: int, method: str = "bilinear") -> np.ndarray:
    """(n, h, w) images in [0, 1] -> (n, 1, size, size) float32, torch interpolation."""
    import torch
    import torch.nn.functional as F
    x = torch.as_tensor(np.asarray(images, dtype=np.float32))[:, None]
    if x.shape[-1] != size or x.shape[-2] != size:
        kw = {"align_corners": False, "antialias": True} if method in ("bilinear", "bicubic") else {}
        x = F.interpolate(x, size=(size, size), mode=method, **kw)
    return x.clamp_(0.0, 1.0).numpy()


def sample_per_class(labels: np.ndarray, n_per_class: int | None, seed: int) -> np.ndarray:
    """Indices of ``n_per_class`` points drawn at random from each class (all if None), sorted."""
    if n_per_class is None:
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    idx = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        if n_per_class > len(members):
            raise ValueError(f"n_per_class={n_per_class} but class {c} has only {len(members)} points")
        idx.append(rng.choice(members, size=n_per_class, replace=False))
    return np.sort(np.concatenate(idx))


def to_grayscale(rgb: np.ndarray) -> np.ndarray:
    """(n, h, w, 3) uint8 RGB -> (n, h, w) float32 in [0, 1], ITU-R 601 luma (as PIL's 'L')."""
    rgb = np.asarray(rgb, dtype=np.float32)
    return (rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)) / 255.0


def tfidf_svd_shared(target_docs: list[str], meta_docs: list[str], dim: int, seed: int, *,
                     fit_on: str = "union", **kw) -> tuple[np.ndarray, np.ndarray, dict]:
    """One TF-IDF vocabulary and one TruncatedSVD for a target corpus and its meta corpus.

    ``fit_on``: 'union' (default; label-free, both corpora), 'meta' (meta corpus only), or
    'target'. Both corpora are then projected into that one space, so a teacher or a
    meta-learner trained on the meta data transfers to the target.
    """
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.preprocessing import normalize
    if fit_on not in ("union", "meta", "target"):
        raise ValueError(f"fit_on must be 'union', 'meta' or 'target', got {fit_on!r}")
    vec = TfidfVectorizer(stop_words="english", sublinear_tf=True, dtype=np.float64,
                          min_df=kw.get("min_df", 2), max_df=kw.get("max_df", 0.5),
                          max_features=kw.get("max_features"))
    fit_docs = {"union": target_docs + meta_docs, "meta": meta_docs, "target": target_docs}[fit_on]
    vec.fit(fit_docs)
    T, M = vec.transform(target_docs), vec.transform(meta_docs)
    svd = TruncatedSVD(n_components=dim, algorithm="randomized", n_iter=7, random_state=seed)
    svd.fit({"union": None, "meta": M, "target": T}[fit_on] if fit_on != "union" else _vstack(T, M))
    Xt, Xm = normalize(svd.transform(T)), normalize(svd.transform(M))
    info = {"n_docs": len(target_docs), "n_meta_docs": len(meta_docs), "fit_on": fit_on,
            "vocabulary": len(vec.vocabulary_), "dim": dim,
            "explained_variance": round(float(svd.explained_variance_ratio_.sum()), 4)}
    return Xt.astype(np.float32), Xm.astype(np.float32), info


def _vstack(a, b):
    import scipy.sparse as sp

    return sp.vstack([a, b]).tocsr()
