"""Stage tune@<dataset>: the label-free sweep of LRSC's target-side weights (deepsc/tune.py).

Proxy targets are drawn from the external data that meta@<dataset>-task_model held out
(tune.draws x tune.seeds), the target's K and n, and run through Algorithm 2 with the full
LRSC variant of tune.reg at every setting of tune.grid (mu x gamma, x the form of eq. 4 when
the grid lists distill; every other weight from params.yaml). Scored against the external
labels; the target's labels are never read.
Writes reports/tune/<dataset>.json (every run, mean ± std per setting, the best setting, how
well the internal criteria track proxy ACC) and reports/tune/<dataset>.md (the table).
"""

from deepsc.runtime import keep_freed_memory

keep_freed_memory()   # first: freed n x n blocks are reused, not page-faulted anew (deepsc/runtime.py)

import torch

from common import (ROOT, by_kind, dataset_info, distill_form, external_data, is_ok, load_params,
                    stage_args, timed)

from deepsc.io import atomic_path, write_json
from deepsc.losses import DISTILLS
from deepsc.tune import sweep

import numpy as np


def grid_for(t: dict, kind: str) -> dict:
    """tune.grid: one grid ({mu: [...], gamma: [...]}) or a grid per data kind
    ({text: {...}, image: {...}}), since the weights are mappings by kind. A grid may also
    sweep `distill`, the form of eq. (4) (K1 and K2; else params `distill` serves)."""
    grid = t["grid"]
    if grid and set(grid) <= {"text", "image"}:
        if kind not in grid:
            raise SystemExit(f"tune.grid in params.yaml has no grid for data kind {kind!r} "
                             f"(add tune.grid.{kind}: {{mu: [...], gamma: [...]}})")
        grid = grid[kind]
    unknown = set(grid) - {"mu", "gamma", "distill"}
    if unknown:
        raise SystemExit(f"tune.grid may sweep mu, gamma and distill only, got {sorted(unknown)}")
    bad = [f for f in grid.get("distill", []) if f not in DISTILLS]
    if bad:
        raise SystemExit(f"tune.grid.distill has {bad}: use {', '.join(DISTILLS)}")
    return grid


def _cell(value) -> str:
    return f"{value:g}" if isinstance(value, (int, float)) else str(value)


def table_md(ds: str, res: dict, p: dict, grid: dict) -> str:
    t = p["tune"]
    names = list(grid)
    lines = [f"# tune@{ds}: proxy-target sweep",
             "",
             f"Proxy targets: {res.get('proxy', '')}; draws {t['draws']} x seeds {t['seeds']}, "
             f"LRSC-{t['reg'].upper()} (all three levels), loss scale `{p['finetune']['scale']}`. "
             "ACC against the external labels, spectral clustering of 1/2(|C|+|C^T|). "
             f"Produced by `dvc exp run -n tune-{ds} -S 'tune.datasets=[{ds}]'` "
             f"(`dvc repro tune@{ds}` when {ds} is in tune.datasets).",
             "",
             "| " + " | ".join(names) + " | proxy ACC | NMI | eigengap | residual | collapsed | per run |",
             "|" + "---|" * (len(names) + 6)]
    for r in res["settings"]:
        mark = " **(chosen)**" if all(r[k] == res["best"][k] for k in names) else ""
        lines.append("| " + " | ".join(_cell(r[k]) for k in names)
                     + f" | {r['acc_mean']:.3f} ± {r['acc_std']:.3f}{mark} | {r['nmi_mean']:.3f}"
                     f" | {r['eigengap_mean']:.3g} | {r['residual_mean']:.3g}"
                     f" | {r.get('collapsed_runs', 0)}/{len(r['acc_per_run'])} | "
                     + ", ".join(f"{a:.3f}" for a in r["acc_per_run"]) + " |")
    tr = res["criteria_spearman_with_acc"]
    lines += ["", "Spearman's rho of each internal criterion with proxy ACC over all runs "
              "(eigengap: larger is better; residual: smaller is better, sign flipped): "
              + ", ".join(f"{k} {v:.2f}" if v is not None else f"{k} n/a" for k, v in tr.items())
              + ". Collapsed: runs on which the K2 collapse monitor (label-free) fired.",
              ""]
    if res.get("knowledge"):
        lines += ["k-NN(10) label agreement on each proxy draw (external labels; the target's own, "
                  "read after training, is in reports/metrics/" + ds + "/knowledge.json): "
                  + "; ".join(f"draw {r['draw']}: features {r['features_knn10']:.3f}, teacher "
                              f"{r['teacher_knn10']:.3f}" for r in res["knowledge"]), ""]
    return "\n".join(lines)


def main():
    args = stage_args(__doc__, "dataset")
    ds = args.dataset
    p = load_params()
    t = p["tune"]
    for key in ("draws", "seeds", "grid", "reg"):
        if key not in t:
            raise SystemExit(f"tune.{key} is missing in params.yaml")
    info = dataset_info(ds)
    grid = grid_for(t, info["kind"])
    with timed(f"tune@{ds}"):
        res = {"status": "ok"}
        ext = external_data(p, ds, info)
        meta = torch.load(ROOT / "models" / "meta" / f"{ds}-task_model.pt", weights_only=True) \
            if not isinstance(ext, str) else {"status": ext}
        if isinstance(ext, str) or meta["status"] != "ok":
            res = {"status": "unavailable", "reason": ext if isinstance(ext, str) else meta.get("reason")}
        else:
            X, y, name = ext
            # the proxy teacher's features: it never saw the held-out split the proxies come from
            T = np.load(ROOT / "data" / "teacher" / f"{ds}.npz")["proxy"]
            kind, ae, ft = info["kind"], p["ae"][info["kind"]], p["finetune"]
            res.update(sweep(
                X, y, T, kind, k=info["n_clusters"], n=info["n"], grid=grid, draws=t["draws"],
                seeds=t["seeds"], init_state=meta["state_dict"], val_frac=p["meta"]["val_frac"],
                split_seed=p["meta"]["seed"],
                pretrain_kw=dict(arch=ae, k1=ae["k1"], batch_size=ae["batch_size"], lr=ae["lr"],
                                 t=p["t"], scale=ft["scale"], distill=distill_form(p, kind),
                                 device=ft["device"]),
                finetune_kw=dict(arch=ae, k2=ft["k2"][kind], lr=ft["lr"],
                                 lambda1=by_kind(p, "lambda1", kind),
                                 lambda2=by_kind(p, "lambda2", kind, t["reg"]), reg=t["reg"],
                                 c_init=ft["c_init"], zero_diag=ft["zero_diag"],
                                 sigma=by_kind(p, "sigma", kind), t=p["t"], scale=ft["scale"],
                                 c_update=ft["c_update"][t["reg"]], c_step=ft["c_step"],
                                 distill=distill_form(p, kind), device=ft["device"])))
            res["proxy"] = f"{name}, held-out {res['runs'][0]['heldout']}, K = {info['n_clusters']}, n = {info['n']}"
        write_json(ROOT / "reports" / "tune" / f"{ds}.json", res)
        with atomic_path(ROOT / "reports" / "tune" / f"{ds}.md", ".md") as tmp:
            tmp.write_text(table_md(ds, res, p, grid) if res["status"] == "ok"
                           else f"# tune@{ds}\n\nnot run: {res.get('reason', '')}\n")


if __name__ == "__main__":
    main()
