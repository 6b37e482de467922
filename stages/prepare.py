"""Stage prepare@<dataset>: raw files -> features.npz (what models see), labels.npz
(evaluation only), meta.npz (external data in the same feature space, with its labels; empty
where the external data is a dataset of its own) and info.json (counts, feature statistics)."""
import numpy as np

from common import check_dataset, load_params, prepared_dir, raw_dir, stage_args, timed

from deepsc.data.prepare import prepare
from deepsc.io import read_json, write_json, write_npz


def main():
    name = stage_args(__doc__, "dataset").dataset
    params = load_params()
    cfg = check_dataset(params, name)
    out = prepared_dir(name)
    with timed(f"prepare@{name}"):
        sources = [cfg["source"]] + ([cfg["meta"]] if cfg.get("meta") else [])
        missing = {s: read_json(raw_dir(s) / "status.json") for s in sources}
        missing = {s: st for s, st in missing.items() if st["status"] != "ok"}
        if missing:
            reason = "; ".join(st["reason"] for st in missing.values())
            for f in ("features", "labels", "meta"):
                write_npz(out / f"{f}.npz", X=np.zeros((0,), np.float32), y=np.zeros((0,), np.int64))
            write_json(out / "info.json", {"status": "unavailable", "reason": reason,
                                           "source": cfg["source"], "kind": cfg["kind"],
                                           "n_clusters": cfg["n_clusters"]})
            return
        prep = prepare(name, cfg, raw_dir)
        counts = np.bincount(prep.y).tolist()
        if len(counts) != cfg["n_clusters"]:
            raise ValueError(f"data.datasets.{name}.n_clusters={cfg['n_clusters']} but the prepared "
                             f"data has {len(counts)} classes; fix n_clusters in params.yaml")
        write_npz(out / "features.npz", X=prep.X)
        write_npz(out / "labels.npz", y=prep.y)
        write_npz(out / "meta.npz", X=prep.meta_X, y=prep.meta_y)
        write_json(out / "info.json", {
            "status": "ok", "source": cfg["source"], "kind": cfg["kind"], "n": len(prep.X),
            "shape": list(prep.X.shape[1:]), "n_clusters": cfg["n_clusters"],
            "counts_per_class": counts, "n_meta": int(len(prep.meta_X)), **prep.info})


if __name__ == "__main__":
    main()
