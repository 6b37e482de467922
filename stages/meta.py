"""Stage meta@<dataset>-<init>: Algorithm 1 of LRSC (task level) on the target's external data.

MAML over clustering episodes of the external data with eq. (6) (lambda3, lambda4, eta, t),
W from the out-of-fold teacher features (teacher@<dataset>). ``init`` names the target
initialisation this meta-learner serves (suite.inits): `task_model` uses eq. (6) with eta,
`task` eq. (6) with eta = 0 (Table 3's "+task level" row: eta = mu = gamma = 0); `random` and
`model` need no meta-learner (a marker file is written). The initialisation with the best ACC
on held-out episodes of the *external* data is kept (early stopping without target labels).
Writes
- models/meta/<dataset>-<init>.pt: the meta-learner, a state_dict of the target autoencoder;
- reports/meta/<dataset>-<init>.json: held-out-episode ACC/NMI/ARI of the meta-learned and of
  the randomly initialised autoencoder on the same episodes, and the selected iteration;
- reports/meta_curves/<dataset>-<init>/: the validation curve (dvclive), a `dvc plots` source.
"""

from deepsc.runtime import keep_freed_memory

keep_freed_memory()   # first: freed n x n blocks are reused, not page-faulted anew (deepsc/runtime.py)

from pathlib import Path

import numpy as np
from dvclive import Live

from common import (ROOT, by_kind, dataset_info, external_data, init_levels, load_params, stage_args,
                    timed)

from deepsc.io import read_json, save_torch, write_json
from deepsc.meta import MetaConfig, meta_train


def main():
    args = stage_args(__doc__, "dataset", "init")
    ds, cell = args.dataset, f"{args.dataset}-{args.init}"
    task, model = init_levels(args.init)
    p = load_params()
    info = dataset_info(ds)
    report = ROOT / "reports" / "meta" / f"{cell}.json"
    with timed(f"meta@{cell}"):
        ext = external_data(p, ds, info)
        teacher = read_json(ROOT / "models" / "teacher" / ds / "status.json")
        live = Live(dir=str(ROOT / "reports" / "meta_curves" / cell), save_dvc_exp=False,
                    dvcyaml=None, report=None)
        if not task:
            ext = f"init {args.init!r} has no task level: no meta-learner (not used)"
        if isinstance(ext, str) or (model and teacher["status"] != "ok"):
            reason = ext if isinstance(ext, str) else teacher["reason"]
            save_torch({"status": "unavailable", "reason": reason},
                       ROOT / "models" / "meta" / f"{cell}.pt")
            live.end()
            curves = Path(live.plots_dir) / "metrics"
            curves.mkdir(parents=True, exist_ok=True)
            (curves / "val_acc.tsv").write_text("step\tval_acc\n")  # an empty curve
            write_json(report, {"status": "unavailable", "reason": reason})
            return
        X, y, name = ext
        # eta = 0 (init `task`) needs no teacher: W is then unused
        T = np.load(ROOT / "data" / "teacher" / f"{ds}.npz")["meta"] if model else \
            np.zeros((len(X), 1), np.float32)
        m, ft, kind = p["meta"], p["finetune"], info["kind"]
        cfg = MetaConfig(
            k=info["n_clusters"] if m["k"] == "auto" else int(m["k"]),
            n_per_class=m["n_per_class"], n_train=m["n_train"], tasks_per_batch=m["tasks_per_batch"],
            inner_steps=m["inner_steps"], inner_lr=m["inner_lr"][kind], c_steps=m["c_steps"],
            meta_lr=m["meta_lr"], meta_iters=m["meta_iters"][kind], first_order=m["first_order"][kind],
            val_frac=m["val_frac"], val_episodes=m["val_episodes"], val_every=m["val_every"],
            val_c_steps=m["val_c_steps"], lambda3=by_kind(p, "lambda3", kind),
            lambda4=by_kind(p, "lambda4", kind), eta=by_kind(p, "eta", kind) if model else 0.0,
            t=p["t"], reg=m["reg"], c_init=ft["c_init"], zero_diag=ft["zero_diag"])

        def log(step, row):
            live.step = step
            for key, value in row.items():
                if key != "iter" and value is not None:
                    live.log_metric(key, value)
            live.next_step()

        arch = p["ae"][kind]
        res = meta_train(X, y, T, kind, arch, cfg, seed=m["seed"], device=ft["device"], log=log)
        live.end()
        save_torch({"status": "ok", "state_dict": res["state_dict"], "kind": kind,
                    "arch": arch, "input_shape": list(X.shape[1:]),
                    "selected_iter": res["best_iter"]}, ROOT / "models" / "meta" / f"{cell}.pt")
        write_json(report, {
            "status": "ok", "external": name, "init": args.init, "eta": cfg.eta, "episodes": {"k": cfg.k, "n_per_class": cfg.n_per_class,
                                                           "n_train": cfg.n_train},
            "validation": {"held_out": res["holdout"], "episodes": cfg.val_episodes,
                           "n_meta_train": res["n_meta_train"], "n_val": res["n_val"]},
            "random_init": res["random_init"],
            "meta_selected": {k.removeprefix("val_"): v for k, v in res["selected"].items()},
            "meta_final": {k.removeprefix("val_"): v for k, v in res["final"].items()},
            "first_order": cfg.first_order})


if __name__ == "__main__":
    main()
