"""Stage evaluate: ACC (Hungarian) / NMI / ARI of every clustering against the true labels.

The only stage that reads labels. Writes reports/metrics/<dataset>/<method>.json with, per
post-processing, the mean ± std over seeds and the per-seed values.
"""
import numpy as np

from common import ROOT, dataset_info, is_ok, load_params, prepared_dir, stage_args, timed
from suites import all_methods, method_seeds

from deepsc.io import atomic_dir, write_json
from deepsc.metrics import knn_agreement, scores, summarize


def knowledge_quality(ds: str, y) -> dict:
    """How good each source of knowledge is by itself on the target, read after training and
    never fed back: the k-NN label agreement (k = 10) of the prepared features and of the
    teacher's features of the target (the T of eq. 5), and k-means ACC on each."""
    from deepsc.cluster import kmeans_labels

    path = ROOT / "data" / "teacher" / f"{ds}.npz"
    sources = {"features": np.load(prepared_dir(ds) / "features.npz")["X"]}
    if path.is_file() and np.load(path)["target"].size:  # empty: the teacher did not run
        sources["teacher"] = np.load(path)["target"]
    k = len(np.unique(y))
    return {name: {"knn10_agreement": round(knn_agreement(F, y), 4),
                   "kmeans_acc": round(scores(y, kmeans_labels(F, k, seed=0))["acc"], 4),
                   "dim": int(np.prod(F.shape[1:]))}
            for name, F in sources.items()}


def evaluate_file(path, y, seeds) -> dict:
    with np.load(path) as f:
        status = str(f["__status__"])
        groups = {}
        for key in f.files:
            if key != "__status__":
                pp, seed = key.split("/seed")
                groups.setdefault(pp, {})[int(seed)] = f[key]
    if status != "ok":
        return {"status": status}
    results = {}
    for pp, by_seed in groups.items():
        if sorted(by_seed) != sorted(seeds):
            raise ValueError(f"{path}: seeds {sorted(by_seed)} differ from params seeds {seeds}; "
                             f"re-run the upstream stage")
        results[pp] = summarize([scores(y, by_seed[s]) for s in seeds])
    return {"status": "ok", "n": int(len(y)), "seeds": list(seeds), "results": results}


def main():
    stage_args(__doc__)   # no arguments; --help prints the docstring
    p = load_params()
    with timed("evaluate"), atomic_dir(ROOT / "reports" / "metrics") as out:
        for ds, methods in all_methods(p).items():
            info = dataset_info(ds)
            y = np.load(prepared_dir(ds) / "labels.npz")["y"] if is_ok(info) else None
            for method in methods:
                path = ROOT / "reports" / "clusters" / ds / f"{method}.npz"
                m = evaluate_file(path, y, method_seeds(p, method)) if is_ok(info) else \
                    {"status": f"data unavailable ({info.get('reason', '')})"}
                write_json(out / ds / f"{method}.json", m)
            if is_ok(info) and ds in p["suite"].get("external", []):
                write_json(out / ds / "knowledge.json", knowledge_quality(ds, y))


if __name__ == "__main__":
    main()
