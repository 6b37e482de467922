"""Choose LRSC's target-side weights (mu, gamma, sigma) on the *external* data, never on a
target's labels.

A proxy target is drawn from the part of the external data that the meta-learner held out
(the same split as Algorithm 1's validation episodes: whole classes where there are enough,
else held-out samples): K classes, as many points as the target. It goes through Algorithm 2
exactly as a target does (meta-learned init, W from the out-of-fold teacher features, K1 + K2
steps of params.yaml) and is clustered and scored against the external labels.

Needs `dvc repro meta@<dataset>-task_model` first. Example:

    python tools/tune_lrsc.py bbc --mu 0 0.001 0.01 --gamma 0 1 --sigma 0.5
"""
import argparse
import itertools
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "stages"))
from common import ROOT, by_kind, dataset_info, external_data, load_params  # noqa: E402

from deepsc.cluster import cluster_coef  # noqa: E402
from deepsc.finetune import train_lrsc  # noqa: E402
from deepsc.meta import heldout_split  # noqa: E402
from deepsc.metrics import scores  # noqa: E402


def proxy_target(p, ds, seed):
    info = dataset_info(ds)
    X, y, name = external_data(p, ds, info)
    T = np.load(ROOT / "data" / "teacher" / f"{ds}.npz")["meta"]
    k = info["n_clusters"]
    _, val, how = heldout_split(y, k, p["meta"]["val_frac"], p["meta"]["seed"])
    rng = np.random.default_rng(seed)
    classes = rng.choice(np.unique(y[val]), k, replace=False)
    per = info["n"] // k
    idx = np.concatenate([rng.choice(val[y[val] == c], min(per, int((y[val] == c).sum())),
                                     replace=False) for c in classes])
    return X[idx], np.searchsorted(np.sort(classes), y[idx]), T[idx], info, f"{name}, held-out {how}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dataset")
    ap.add_argument("--mu", type=float, nargs="+", default=[0.0])
    ap.add_argument("--gamma", type=float, nargs="+", default=[0.0])
    ap.add_argument("--sigma", type=float, nargs="+", default=[0.5])
    ap.add_argument("--reg", default="l2")
    ap.add_argument("--init", default="task_model", help="meta-learner: task_model | task | random")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--proxy-seed", type=int, default=0)
    args = ap.parse_args()
    p = load_params()
    X, y, T, info, desc = proxy_target(p, args.dataset, args.proxy_seed)
    kind, ae, ft = info["kind"], p["ae"][info["kind"]], p["finetune"]
    init = None
    if args.init != "random":
        meta = torch.load(ROOT / "models" / "meta" / f"{args.dataset}-{args.init}.pt", weights_only=True)
        init = meta["state_dict"] if meta["status"] == "ok" else None
    print(f"proxy target for {args.dataset}: {len(X)} points of {desc}; init {args.init}", flush=True)
    for mu, gamma, sigma in itertools.product(args.mu, args.gamma, args.sigma):
        accs, nmis = [], []
        for seed in args.seeds:
            res = train_lrsc(X, kind, arch=ae, seed=seed, k1=ae["k1"], batch_size=ae["batch_size"],
                             lr_pretrain=ae["lr"], k2=ft["k2"][kind], lr=ft["lr"],
                             lambda1=by_kind(p, "lambda1", kind),
                             lambda2=by_kind(p, "lambda2", kind), reg=args.reg,
                             c_init=ft["c_init"], zero_diag=ft["zero_diag"], init_state=init,
                             T=T if mu else None, mu=mu, gamma=gamma, sigma=sigma, t=p["t"],
                             device=ft["device"], progress=False)
            s = scores(y, cluster_coef(res["C"], info["n_clusters"], "none", seed=seed))
            accs.append(s["acc"]), nmis.append(s["nmi"])
        print(f"mu={mu:g} gamma={gamma:g} sigma={sigma:g}: ACC {np.mean(accs):.3f} ± {np.std(accs):.3f}"
              f"  NMI {np.mean(nmis):.3f}", flush=True)


if __name__ == "__main__":
    main()
