"""Stage train@<dataset>-<variant>: DSC-Net (Algorithm 2 with eq. 1) for every seed.

Reads features only (never labels). Writes models/dsc/<dataset>-<variant>/seed<s>.pt
(autoencoder weights and the final C) and the training curves for `dvc plots`.
"""
import argparse
import csv

import numpy as np
import torch

from common import ROOT, dataset_info, is_ok, load_params, prepared_dir, timed

from deepsc.finetune import train_dscnet
from deepsc.io import atomic_dir, atomic_path, write_json


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("dataset")
    ap.add_argument("variant")
    args = ap.parse_args()
    p = load_params()
    info = dataset_info(args.dataset)
    variant = p["variants"][args.variant]
    name = f"{args.dataset}-{args.variant}"
    curves_path = ROOT / "reports" / "curves" / f"{name}.csv"
    with timed(f"train@{name}"), atomic_dir(ROOT / "models" / "dsc" / name) as out:
        rows = []
        if is_ok(info):
            X = np.load(prepared_dir(args.dataset) / "features.npz")["X"]
            ae = p["ae"][info["kind"]]
            ft = p["finetune"]
            for seed in p["seeds"]:
                res = train_dscnet(
                    X, info["kind"], arch=ae, seed=seed, k1=ae["k1"], batch_size=ae["batch_size"],
                    lr_pretrain=ae["lr"], k2=ft["k2"][info["kind"]], lr=ft["lr"], lambda1=p["lambda1"],
                    lambda2=p["lambda2"], reg=variant["reg"], c_init=ft["c_init"],
                    zero_diag=ft["zero_diag"], device=ft["device"])
                with atomic_path(out / f"seed{seed}.pt") as tmp:
                    torch.save({"C": torch.from_numpy(res["C"]), "z": torch.from_numpy(res["z"]),
                                "state_dict": res["state_dict"], "seed": seed}, tmp)
                rows += [{"seed": seed, **r} for r in res["curve"] if r["phase"] == "finetune"]
        write_json(out / "status.json", {"status": info["status"], "seeds": p["seeds"],
                                         **({"reason": info["reason"]} if not is_ok(info) else {})})
        fields = ["seed", "step", "loss", "rec", "selfexp", "reg"]
        with atomic_path(curves_path, ".csv") as tmp, open(tmp, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore")
            w.writeheader()
            w.writerows(rows)


if __name__ == "__main__":
    main()
