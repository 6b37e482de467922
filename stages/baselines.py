"""Stage baselines@<dataset>: the classical baselines of LRSC's Table 1 (SSC, EnSC, SSC-OMP,
LRR) on the prepared features, with the project's spectral clustering of each affinity in
baselines.affinity ('none': |C| + |C|^T; 'l2norm': each point's coefficient vector
L2-normalised first, as the authors' code of ChongYou/subspace-clustering does). The
coefficients do not depend on the seed; k-means in the spectral step does, so each seed gets
its labels.

Writes reports/clusters/<dataset>/<method>.npz ("<affinity>/seed<s>") and
reports/baselines/<dataset>.json (time and nonzeros per method).
"""
import time

import numpy as np

from common import ROOT, dataset_info, is_ok, load_features, load_params, stage_args, timed
from suites import BASELINES

from deepsc.baselines import baseline_labels_by_affinity
from deepsc.io import write_json, write_npz


def main():
    ds = stage_args(__doc__, "dataset").dataset
    p = load_params()
    b = p["baselines"]
    info = dataset_info(ds)
    report = {}
    with timed(f"baselines@{ds}"):
        X = load_features(ds).reshape(info.get("n", 0), -1) if is_ok(info) else None
        for method in BASELINES:
            out, status = {}, info["status"] if not is_ok(info) else "ok"
            if X is None:
                status = f"{info['status']}: {info.get('reason', '')}"
            elif method not in b["methods"]:
                status = "not run: not in baselines.methods"
            else:
                t0 = time.perf_counter()
                labels = baseline_labels_by_affinity(method, X, info["n_clusters"], p["seeds"],
                                                     b["affinity"], n_jobs=b["n_jobs"], **b[method])
                out = {f"{a}/seed{s}": by_seed[s] for a, by_seed in labels.items()
                       for s in p["seeds"]}
                report[method] = {"seconds": time.perf_counter() - t0, **b[method]}
            write_npz(ROOT / "reports" / "clusters" / ds / f"{method}.npz",
                      __status__=np.array(status), **out)
    write_json(ROOT / "reports" / "baselines" / f"{ds}.json", report)


if __name__ == "__main__":
    main()
