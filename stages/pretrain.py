"""Stage pretrain@<dataset>: Algorithm 2's first loop (autoencoder on reconstruction) per seed.

Shared by every variant of the dataset, so changing lambda1 or the variant does not
re-train it. Reads features only. Writes models/pretrain/<dataset>/seed<s>.pt.
"""
import torch

from common import ROOT, dataset_info, is_ok, load_features, load_params, stage_args, timed

from deepsc.finetune import pretrain
from deepsc.io import atomic_dir, atomic_path, write_json


def main():
    ds = stage_args(__doc__, "dataset").dataset
    p = load_params()
    info = dataset_info(ds)
    with timed(f"pretrain@{ds}"), atomic_dir(ROOT / "models" / "pretrain" / ds) as out:
        if is_ok(info):
            X = load_features(ds)
            ae = p["ae"][info["kind"]]
            for seed in p["seeds"]:
                res = pretrain(X, info["kind"], arch=ae, seed=seed, k1=ae["k1"],
                               batch_size=ae["batch_size"], lr=ae["lr"], device=p["finetune"]["device"])
                with atomic_path(out / f"seed{seed}.pt") as tmp:
                    torch.save({"state_dict": res["state_dict"], "seed": seed,
                                "final_rec_per_point": res["curve"][-1]["rec_per_point"]}, tmp)
        write_json(out / "status.json", {"status": info["status"], "seeds": p["seeds"]})


if __name__ == "__main__":
    main()
