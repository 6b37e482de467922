"""Stages cluster@<dataset>-<variant> (DSCN) and cluster_lrsc@<dataset>-<variant> (LRSC): spectral
clustering of each seed's C, per post-processing.

Writes reports/clusters/<dataset>/<variant>.npz with one label vector per
(post-processing, seed), keyed "<postprocess>/seed<s>".
"""

import numpy as np
import torch

from common import ROOT, dataset_info, is_ok, load_params, timed, stage_args

from deepsc.cluster import cluster_coef
from deepsc.io import read_json, write_npz


def main():
    args = stage_args(__doc__, "dataset", "variant", "group")
    p = load_params()
    info = dataset_info(args.dataset)
    name = f"{args.dataset}-{args.variant}"
    model_dir = ROOT / "models" / "dsc" / name
    out = {}
    with timed(f"{args.group}@{name}"):
        status = read_json(model_dir / "status.json") if is_ok(info) else info
        if is_ok(status):
            for seed in p["seeds"]:
                C = torch.load(model_dir / f"seed{seed}.pt", weights_only=True)["C"].numpy()
                for pp in p["cluster"]["postprocess"]:
                    out[f"{pp}/seed{seed}"] = cluster_coef(C, info["n_clusters"], pp, seed=seed,
                                                           **p["cluster"].get(pp, {}))
        write_npz(ROOT / "reports" / "clusters" / args.dataset / f"{args.variant}.npz",
                  __status__=np.array(status["status"] if is_ok(status) else
                                     f"{status['status']}: {status.get('reason', '')}"), **out)


if __name__ == "__main__":
    main()
