"""Stage pretrain@<dataset> and pretrain_ext@<dataset>-<init>: Algorithm 2's first loop per seed.

pretrain@<dataset> (init `random`, DSC-Net): a fresh autoencoder on reconstruction, shared by
the DSCN variants, so changing lambda1 or a variant does not re-train it. Writes
models/pretrain/<dataset>/seed<s>.pt.

pretrain_ext@<dataset>-<init> (LRSC, suite.inits): the autoencoder starts from the
meta-learner meta@<dataset>-<init> when the init has the task level, and trains on
reconstruction + mu * eq. (4) with W = eq. (5) on the teacher's features of the target when it
has the model level. Writes models/pretrain_ext/<dataset>/<init>/seed<s>.pt.

Reads features (and the teacher's features) only, never labels.
"""
import torch

from common import (ROOT, by_kind, dataset_info, init_levels, is_ok, load_features, load_params,
                    stage_args, teacher_target, timed)

from deepsc.finetune import pretrain
from deepsc.io import atomic_dir, atomic_path, write_json


def external_init(ds: str, init: str) -> dict:
    """The meta-learner's weights and/or the teacher's features of the target, for ``init``;
    {'reason': ...} when one is missing."""
    task, model = init_levels(init)
    out = {"init_state": None, "T": None}  # random: a fresh autoencoder, no distillation
    if task:
        meta = torch.load(ROOT / "models" / "meta" / f"{ds}-{init}.pt", weights_only=True)
        if meta["status"] != "ok":
            return {"reason": f"meta@{ds}-{init}: {meta.get('reason', meta['status'])}"}
        out["init_state"] = meta["state_dict"]
    if model:
        out["T"] = teacher_target(ds)
        if isinstance(out["T"], str):
            return {"reason": out["T"]}
    return out


def main():
    args = stage_args(__doc__, "dataset", "init", "group")
    ds, init = args.dataset, args.init
    p = load_params()
    info = dataset_info(ds)
    if args.group == "pretrain" and init != "random":
        raise SystemExit("pretrain@<dataset> is the random init of DSC-Net; use pretrain_ext")
    name, out_dir = ((f"pretrain@{ds}", ROOT / "models" / "pretrain" / ds)
                     if args.group == "pretrain" else
                     (f"pretrain_ext@{ds}-{init}", ROOT / "models" / "pretrain_ext" / ds / init))
    with timed(name), atomic_dir(out_dir) as out:
        status = dict(info) if not is_ok(info) else {"status": "ok"}
        ext = external_init(ds, init) if is_ok(info) else {}
        if "reason" in ext:
            status = {"status": "unavailable", "reason": ext["reason"]}
        if is_ok(status):
            X = load_features(ds)
            ae = p["ae"][info["kind"]]
            mu = by_kind(p, "mu", info["kind"]) if init_levels(init)[1] else 0.0
            for seed in p["seeds"]:
                res = pretrain(X, info["kind"], arch=ae, seed=seed, k1=ae["k1"],
                               batch_size=ae["batch_size"], lr=ae["lr"],
                               init_state=ext["init_state"], T=ext["T"], mu=mu, t=p["t"],
                               device=p["finetune"]["device"])
                with atomic_path(out / f"seed{seed}.pt") as tmp:
                    torch.save({"state_dict": res["state_dict"], "seed": seed, "init": init,
                                "final": res["curve"][-1] if res["curve"] else {}}, tmp)
        write_json(out / "status.json", {**status, "init": init, "seeds": p["seeds"]})


if __name__ == "__main__":
    main()
