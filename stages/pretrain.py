"""Stage pretrain@<dataset> and pretrain_ext@<dataset>-<init>: Algorithm 2's first loop per seed.

pretrain@<dataset> (init `random`, DSC-Net): a fresh autoencoder on reconstruction, shared by
the DSCN variants, so changing lambda1 or a variant does not re-train it. Writes
models/pretrain/<dataset>/seed<s>.pt.

pretrain_ext@<dataset>-<init> (LRSC, suite.inits): the autoencoder starts from the
meta-learner meta@<dataset>-<init> when the init has the task level, and trains on
reconstruction + mu * eq. (4) (in the form that params `distill` names) with W = eq. (5) on
the teacher's features of the target when it has the model level. Writes
models/pretrain_ext/<dataset>/<init>/seed<s>.pt.

After each seed the autoencoder's label-free health check runs (deepsc.health: reconstruction
error against the mean image, dead units per layer, effective rank of Z; thresholds
``ae.<kind>.health``, default deepsc.health.Thresholds). A fresh (random) initialisation that
fails it is started again with a fresh seed, at most ``ae.<kind>.restarts`` times (default 3);
a meta-learned initialisation is not replaced (its health is recorded and warned about).
Every attempt's figures go into the checkpoint (``health``, ``attempts``, ``train_seed``) and
status.json (``health`` per seed, ``collapsed_seeds``, ``restarted_seeds``: seeds that needed
a restart); every collapsed attempt prints a WARNING line to stderr.

The seeds train side by side, one thread each (deepsc.runtime.map_seeds: K1's mini-batches
use a second thread poorly, so two one-thread seeds take about the time of one two-thread
seed); every seed runs on one thread whatever the machine, so the numbers do not depend on
its cores. DEEPSC_WORKERS=1 runs them one after the other.

Reads features (and the teacher's features) only, never labels.
"""

from deepsc.runtime import keep_freed_memory

keep_freed_memory()   # first: freed n x n blocks are reused, not page-faulted anew (deepsc/runtime.py)

import sys
from functools import partial

import torch

from common import (ROOT, by_kind, dataset_info, distill_form, init_levels, is_ok, load_features,
                    load_params, stage_args, teacher_target, timed)

from deepsc.finetune import pick_device, pretrain
from deepsc.health import Thresholds, checkpoint_health, until_healthy
from deepsc.io import atomic_dir, save_torch, write_json
from deepsc.runtime import map_seeds


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


def pretrain_seed(name: str, X, kind: str, ae: dict, seed: int, ext: dict, mu: float, p: dict,
                  restarts: int):
    """deepsc.finetune.pretrain for one seed under the health check (deepsc.health), with up to
    ``restarts`` fresh initialisations; a WARNING line on stderr for every collapsed attempt."""
    dev = pick_device(p["finetune"]["device"])
    thresholds = Thresholds(**ae.get("health", {}))

    def train(s):
        return pretrain(X, kind, arch=ae, seed=s, k1=ae["k1"], batch_size=ae["batch_size"],
                        lr=ae["lr"], init_state=ext["init_state"], T=ext["T"], mu=mu, t=p["t"],
                        scale=p["finetune"]["scale"], distill=distill_form(p, kind),
                        device=p["finetune"]["device"])

    def check(res):
        h = checkpoint_health(kind, ae, res["state_dict"], X, dev, thresholds)
        if not h.healthy:
            print(f"WARNING: {name} seed {seed}: pre-training COLLAPSED: {h.summary()}",
                  file=sys.stderr, flush=True)
        return h

    res, h, attempts = until_healthy(train, check, seed, restarts)
    if not h.healthy:
        print(f"WARNING: {name} seed {seed}: STILL COLLAPSED after {len(attempts)} attempt(s); "
              f"its weights are kept and marked collapsed in status.json", file=sys.stderr,
              flush=True)
    elif len(attempts) > 1:
        print(f"WARNING: {name} seed {seed}: healthy after {len(attempts) - 1} restart(s) with a "
              f"fresh initialisation (seed {attempts[-1]['seed']})", file=sys.stderr, flush=True)
    return res, h, attempts


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
            restarts = int(ae.get("restarts", 3)) if ext["init_state"] is None else 0
            health = {}
            runs = map_seeds(partial(pretrain_seed, name, X, info["kind"], ae, ext=ext, mu=mu, p=p,
                                     restarts=restarts), p["seeds"], threads=1)
            for seed, (res, h, attempts) in zip(p["seeds"], runs):
                kept = next(a for a in attempts if a["kept"])
                health[str(seed)] = {**h.as_dict(), "train_seed": kept["seed"],
                                     "attempts": len(attempts)}
                save_torch({"state_dict": res["state_dict"], "seed": seed, "init": init,
                            "final": res["curve"][-1] if res["curve"] else {},
                            "health": h.as_dict(), "train_seed": kept["seed"],
                            "attempts": attempts}, out / f"seed{seed}.pt")
            status.update(health=health, max_restarts=restarts,
                          collapsed_seeds=[int(s) for s, v in health.items() if not v["healthy"]],
                          restarted_seeds=[int(s) for s, v in health.items() if v["attempts"] > 1])
        write_json(out / "status.json", {**status, "init": init, "seeds": p["seeds"]})
    # the same health figures, uncached, for the tables stage (a per-seed health column)
    write_json(ROOT / "reports" / "health" / f"{name}.json",
               {"stage": name, "status": status["status"], "health": status.get("health", {})})


if __name__ == "__main__":
    main()
