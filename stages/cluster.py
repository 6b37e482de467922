"""Stage cluster@<dataset>-<variant>: spectral clustering of each seed's C, per post-processing.

Writes reports/clusters/<dataset>/<variant>.npz with one label vector per
(post-processing, seed), keyed "<postprocess>/seed<s>".
"""

import numpy as np
import torch

from common import ROOT, dataset_info, is_ok, load_params, timed, stage_args

from deepsc.cluster import cluster_coef
from deepsc.io import read_json, write_npz


def main():
    args = stage_args(__doc__, "dataset", "variant")
    p = load_params()
    info = dataset_info(args.dataset)
    name = f"{args.dataset}-{args.variant}"
    model_dir = ROOT / "models" / "dsc" / name
    out = {}
    with timed(f"cluster@{name}"):
        if is_ok(info) and is_ok(read_json(model_dir / "status.json")):
            for seed in p["seeds"]:
                C = torch.load(model_dir / f"seed{seed}.pt", weights_only=True)["C"].numpy()
                for pp in p["cluster"]["postprocess"]:
                    out[f"{pp}/seed{seed}"] = cluster_coef(C, info["n_clusters"], pp, seed=seed,
                                                           **p["cluster"].get(pp, {}))
        write_npz(ROOT / "reports" / "clusters" / args.dataset / f"{args.variant}.npz",
                  __status__=np.array(info["status"]), **out)


if __name__ == "__main__":
    main()
