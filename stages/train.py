"""Stages train@<dataset>-<variant> (DSC-Net) and lrsc@<dataset>-<variant> (LRSC): Algorithm 2's
second loop per seed.

DSCN variants (no task/model level, no self-supervision; suite.variants) fine-tune
pretrain@<dataset>'s weights on eq. (1) with lambda1, lambda2. LRSC variants (suite.lrsc)
fine-tune pretrain_ext@<dataset>-<init>'s weights on eq. (9): lambda1, lambda2, mu * eq. (4)
with W = eq. (5) on the teacher's features of the target (t), gamma * eq. (8) (sigma); a
term's weight is the top-level symbol times the variant's switch. Reads features (and the
teacher's features) only, never labels. Writes models/dsc/<dataset>-<variant>/seed<s>.pt
(fine-tuned weights, final C and Z) and the training curves for `dvc plots`.
"""

from deepsc.runtime import keep_freed_memory

keep_freed_memory()   # first: freed n x n blocks are reused, not page-faulted anew (deepsc/runtime.py)

import csv
import sys

import torch

from common import (ROOT, by_kind, dataset_info, is_ok, load_features, load_params, stage_args,
                    teacher_target, timed, variant_settings, distill_form)

from deepsc.finetune import collapse_warning, finetune
from deepsc.io import atomic_dir, atomic_path, read_json, save_torch, write_json

CURVE_FIELDS = ["seed", "step", "loss", "rec", "selfexp", "reg", "distill", "selfsup", "z_rms",
                "z_erank", "c_beta"]   # c_beta: prox_backtrack's factor over the self-expression L


def main():
    args = stage_args(__doc__, "dataset", "variant", "group")
    p = load_params()
    info = dataset_info(args.dataset)
    v = variant_settings(p, args.variant, info.get("kind"))
    distill = distill_form(p, info.get("kind"), args.variant)   # eq. 4 or 'rayleigh' in K2
    lrsc = args.group == "lrsc"
    if not lrsc and (v["init"] != "random" or v["gamma"] or v["mu"]):
        raise SystemExit(f"variant {args.variant!r} uses external knowledge or self-supervision: "
                         f"list it in suite.lrsc of params.yaml, not suite.variants")
    name = f"{args.dataset}-{args.variant}"
    pre_dir = (ROOT / "models" / "pretrain_ext" / args.dataset / v["init"] if lrsc
               else ROOT / "models" / "pretrain" / args.dataset)
    with timed(f"{'lrsc' if lrsc else 'train'}@{name}"), \
            atomic_dir(ROOT / "models" / "dsc" / name) as out:
        rows, status, collapsed = [], dict(info), {}
        if lrsc and is_ok(status):
            if v["init"] not in p["suite"]["inits"]:
                raise SystemExit(f"variant {args.variant!r} starts from init {v['init']!r}: add it "
                                 f"to suite.inits in params.yaml")
            status = read_json(pre_dir / "status.json")
        T = None
        if is_ok(status) and v["mu"]:
            T = teacher_target(args.dataset)
            if isinstance(T, str):
                status = {"status": "unavailable", "reason": T}
        if is_ok(status):
            X = load_features(args.dataset)
            ft = p["finetune"]
            for seed in p["seeds"]:
                pre = torch.load(pre_dir / f"seed{seed}.pt", weights_only=True)
                res = finetune(
                    X, info["kind"], arch=p["ae"][info["kind"]], state_dict=pre["state_dict"],
                    seed=seed, k2=ft["k2"][info["kind"]], lr=ft["lr"], lambda1=by_kind(p, "lambda1", info["kind"]),
                    lambda2=by_kind(p, "lambda2", info["kind"], v["reg"]), reg=v["reg"], c_init=ft["c_init"],
                    zero_diag=ft["zero_diag"], T=T, mu=v["mu"], gamma=v["gamma"],
                    sigma=v["sigma"], t=p["t"], scale=ft["scale"],
                    c_update=ft["c_update"][v["reg"]], c_step=ft["c_step"], distill=distill,
                    device=ft["device"])
                warn = collapse_warning(res["curve"])
                if warn:
                    print(f"WARNING: {name} seed {seed}: {warn}", file=sys.stderr)
                collapsed[seed] = warn
                save_torch({"C": torch.from_numpy(res["C"]), "z": torch.from_numpy(res["z"]),
                            "state_dict": res["state_dict"], "seed": seed}, out / f"seed{seed}.pt")
                rows += [{"seed": seed, **r} for r in res["curve"]]
        write_json(out / "status.json", {"status": status["status"],
                                         **({"reason": status["reason"]} if "reason" in status else {}),
                                         "seeds": p["seeds"], **v,
                                         **({"distill": distill} if distill != "eq4" and v["mu"] else {}),
                                         "collapse": {str(k): w for k, w in collapsed.items()}})
        with atomic_path(ROOT / "reports" / "curves" / f"{name}.csv", ".csv") as tmp, \
                open(tmp, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=CURVE_FIELDS, extrasaction="ignore")
            w.writeheader()
            w.writerows(rows)


if __name__ == "__main__":
    main()
