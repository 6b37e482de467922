"""Stage prepare@<dataset>: raw files -> features.npz (what models see) and labels.npz (evaluation only)."""

import numpy as np

from common import load_params, prepared_dir, raw_dir, timed, stage_args

from deepsc.data import loaders
from deepsc.data.features import resize_images, sample_per_class, tfidf_svd
from deepsc.io import read_json, write_json, write_npz


def build(name: str, cfg: dict) -> tuple[np.ndarray, np.ndarray, dict]:
    src = raw_dir(cfg["source"])
    if cfg["source"] == "digits":
        images, labels = loaders.load_digits()
    elif cfg["source"] in ("fashion_mnist", "mnist"):
        images, labels = loaders.load_idx_split(src, cfg.get("split", "test"))
        images = images.astype(np.float32) / 255.0
    elif cfg["source"] == "bbc":
        archive = next(p for p in sorted(src.iterdir()) if p.name.startswith("bbc-fulltext"))
        docs, labels, _ = loaders.load_bbc(archive)
        X, info = tfidf_svd(docs, cfg["svd_dim"], cfg.get("seed", 0), min_df=cfg["min_df"],
                            max_df=cfg["max_df"])
        return X, labels, info
    else:
        raise ValueError(f"data.datasets.{name}: no preparation defined for source {cfg['source']!r}")
    idx = sample_per_class(labels, cfg.get("n_per_class"), cfg.get("seed", 0))
    X = resize_images(images[idx], cfg["size"], cfg.get("resize", "bilinear"))
    return X, labels[idx], {"size": cfg["size"], "resize": cfg.get("resize", "bilinear")}


def main():
    name = stage_args(__doc__, "dataset").dataset
    params = load_params()
    try:
        cfg = params["data"]["datasets"][name]
    except KeyError:
        raise SystemExit(f"unknown dataset {name!r}: add it under data.datasets in params.yaml "
                         f"(known: {', '.join(params['data']['datasets'])})")
    out = prepared_dir(name)
    with timed(f"prepare@{name}"):
        raw_status = read_json(raw_dir(cfg["source"]) / "status.json")
        if raw_status["status"] != "ok":
            write_npz(out / "features.npz", X=np.zeros((0,), np.float32))
            write_npz(out / "labels.npz", y=np.zeros((0,), np.int64))
            write_json(out / "info.json", {"status": "unavailable", "reason": raw_status["reason"],
                                           "kind": cfg["kind"], "n_clusters": cfg["n_clusters"]})
            return
        X, y, info = build(name, cfg)
        counts = np.bincount(y).tolist()
        if len(counts) != cfg["n_clusters"]:
            raise ValueError(f"data.datasets.{name}.n_clusters={cfg['n_clusters']} but the data "
                             f"has {len(counts)} classes")
        write_npz(out / "features.npz", X=X)
        write_npz(out / "labels.npz", y=y)
        write_json(out / "info.json", {"status": "ok", "kind": cfg["kind"], "n": len(X),
                                       "shape": list(X.shape[1:]), "n_clusters": cfg["n_clusters"],
                                       "counts_per_class": counts, **info})


if __name__ == "__main__":
    main()
