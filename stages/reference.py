"""Stage reference@<dataset>: k-means and k-NN spectral clustering on the prepared features."""

import numpy as np

from common import ROOT, dataset_info, is_ok, load_features, load_params, stage_args, timed

from deepsc.cluster import kmeans_labels, spectral_knn_labels
from deepsc.io import write_npz


def main():
    ds = stage_args(__doc__, "dataset").dataset
    p = load_params()
    info = dataset_info(ds)
    with timed(f"reference@{ds}"):
        X = load_features(ds) if is_ok(info) else None
        methods = {
            "kmeans": lambda s: kmeans_labels(X, info["n_clusters"], s),
            "spectral_knn": lambda s: spectral_knn_labels(X, info["n_clusters"], s,
                                                          p["reference"]["n_neighbors"]),
        }
        for method, run in methods.items():
            out = {f"features/seed{s}": run(s) for s in (p["seeds"] if X is not None else [])}
            write_npz(ROOT / "reports" / "clusters" / ds / f"{method}.npz",
                      __status__=np.array(info["status"]), **out)


if __name__ == "__main__":
    main()
