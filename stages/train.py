"""Stage train@<dataset>-<variant>: Algorithm 2's second loop with eq. 1 (DSC-Net) per seed.

Starts from pretrain@<dataset>'s weights; reads features only (never labels). Writes
models/dsc/<dataset>-<variant>/seed<s>.pt (fine-tuned weights, final C and Z) and the
training curves for `dvc plots`.
"""
import csv

import torch

from common import ROOT, dataset_info, is_ok, load_features, load_params, stage_args, timed

from deepsc.finetune import finetune
from deepsc.io import atomic_dir, atomic_path, write_json


def main():
    args = stage_args(__doc__, "dataset", "variant")
    p = load_params()
    info = dataset_info(args.dataset)
    variant = p["variants"][args.variant]
    name = f"{args.dataset}-{args.variant}"
    with timed(f"train@{name}"), atomic_dir(ROOT / "models" / "dsc" / name) as out:
        rows = []
        if is_ok(info):
            X = load_features(args.dataset)
            ft = p["finetune"]
            for seed in p["seeds"]:
                pre = torch.load(ROOT / "models" / "pretrain" / args.dataset / f"seed{seed}.pt",
                                 weights_only=True)
                res = finetune(
                    X, info["kind"], arch=p["ae"][info["kind"]], state_dict=pre["state_dict"],
                    seed=seed, k2=ft["k2"][info["kind"]], lr=ft["lr"], lambda1=p["lambda1"],
                    lambda2=p["lambda2"], reg=variant["reg"], c_init=ft["c_init"],
                    zero_diag=ft["zero_diag"], device=ft["device"])
                with atomic_path(out / f"seed{seed}.pt") as tmp:
                    torch.save({"C": torch.from_numpy(res["C"]), "z": torch.from_numpy(res["z"]),
                                "state_dict": res["state_dict"], "seed": seed}, tmp)
                rows += [{"seed": seed, **r} for r in res["curve"]]
        write_json(out / "status.json", {"status": info["status"], "seeds": p["seeds"]})
        with atomic_path(ROOT / "reports" / "curves" / f"{name}.csv", ".csv") as tmp, \
                open(tmp, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=["seed", "step", "loss", "rec", "selfexp", "reg"],
                               extrasaction="ignore")
            w.writeheader()
            w.writerows(rows)


if __name__ == "__main__":
    main()
