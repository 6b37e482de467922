"""Collapse benchmark (issue 17): how many seeds of autoencoder pre-training collapse.

    python benchmarks/collapse_bench.py                    # narrow AE, fmnist1k + digits, 10 seeds
    python benchmarks/collapse_bench.py --k1 500 --jobs 2  # shorter, two processes
    python benchmarks/collapse_bench.py --arch default --datasets fmnist1k --seeds 3

Pre-trains the narrow convolutional autoencoder of DSC-Net's configurations (channels 3-3-5,
kernels 5-3-3; ``--arch default``: params.yaml's ``ae.image``) with
``deepsc.finetune.pretrain`` (k1 = 1000, batch 128, lr 1e-3 as in params.yaml) on each dataset
and seed, and prints every seed's label-free health (deepsc.health) and the count of collapsed
seeds, in two modes:

- ``before``: today's behaviour: PyTorch's default initialisation, no health check, no restart;
- ``after``: He initialisation with zero biases (``init: kaiming``) and what stage
  ``pretrain@`` does: the health check, and up to ``--restarts`` fresh initialisations
  (``deepsc.health.until_healthy``) when it fails.

Features: data/prepared/<name>/features.npz when ``dvc repro`` made it, else prepared here
with params.yaml's settings (deepsc.data.prepare; Fashion-MNIST from data/raw or
LRSC_DATA_MIRROR / ../shared/data). No labels are read.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import yaml
from joblib import Parallel, delayed

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from deepsc.data.prepare import prepare  # noqa: E402
from deepsc.data.sources import get_source  # noqa: E402
from deepsc.finetune import pretrain  # noqa: E402
from deepsc.health import checkpoint_health, until_healthy  # noqa: E402

NARROW = {"channels": [3, 3, 5], "kernel": [5, 3, 3]}
MODES = {"before": {"init": "default", "restarts": 0},
         "after": {"init": "kaiming", "restarts": None}}  # None: --restarts


def raw_folder(source: str) -> Path:
    own = ROOT / "data" / "raw" / source
    if any(own.glob("*.gz")):
        return own
    mirrors = [Path(p) for p in os.environ.get("LRSC_DATA_MIRROR", "").split(":") if p]
    for m in mirrors + [ROOT.parent / "shared" / "data"]:
        cand = m / get_source(source).folder
        if cand.is_dir():
            return cand
    raise SystemExit(f"raw files of {source!r} not found: run `dvc repro prepare@...` first")


def features(name: str, params: dict) -> np.ndarray:
    path = ROOT / "data" / "prepared" / name / "features.npz"
    if path.is_file():
        return np.load(path)["X"]
    return prepare(name, params["data"]["datasets"][name], raw_folder).X


def run_seed(X: np.ndarray, name: str, mode: str, arch: dict, seed: int, k1: int, restarts: int,
             ae: dict) -> dict:
    torch.set_num_threads(1)
    X = np.array(X)  # joblib hands workers a read-only memory map
    arch = {**arch, "init": MODES[mode]["init"]}
    t = time.perf_counter()

    def train(s):
        return pretrain(X, "image", arch=arch, seed=s, k1=k1, batch_size=ae["batch_size"],
                        lr=ae["lr"], device="cpu", progress=False)

    def check(res):
        return checkpoint_health("image", arch, res["state_dict"], X)

    _, h, attempts = until_healthy(train, check, seed, restarts)
    return {"dataset": name, "mode": mode, "seed": seed, "health": h, "attempts": attempts,
            "seconds": time.perf_counter() - t}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--datasets", nargs="+", default=["fmnist1k", "digits"])
    ap.add_argument("--seeds", type=int, default=10, help="seeds 0 .. N-1")
    ap.add_argument("--k1", type=int, default=None, help="pre-training steps (params: ae.image.k1)")
    ap.add_argument("--restarts", type=int, default=3, help="fresh initialisations in 'after'")
    ap.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    ap.add_argument("--arch", choices=["narrow", "default"], default="narrow")
    ap.add_argument("--jobs", type=int, default=1, help="worker processes (one thread each)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    ae = params["ae"]["image"]
    k1 = args.k1 if args.k1 is not None else int(ae["k1"])
    arch = NARROW if args.arch == "narrow" else {k: ae[k] for k in ("channels", "kernel")}
    data = {name: features(name, params) for name in args.datasets}
    print(f"arch {arch}, k1 = {k1}, batch {ae['batch_size']}, lr {ae['lr']}, "
          f"seeds 0-{args.seeds - 1}; after: init kaiming + up to {args.restarts} restarts")
    jobs = [(name, mode, seed) for mode in args.modes for name in args.datasets
            for seed in range(args.seeds)]
    t0 = time.perf_counter()
    rows = Parallel(n_jobs=args.jobs)(
        delayed(run_seed)(data[name], name, mode, arch, seed, k1,
                          MODES[mode]["restarts"] if MODES[mode]["restarts"] is not None
                          else args.restarts, ae)
        for name, mode, seed in jobs)
    for mode in args.modes:
        for name in args.datasets:
            print(f"\n[{mode}] {name}")
            print(f"{'seed':>4} {'tries':>5} {'rel_rec':>8} {'eff_rank':>8}  dead(enc)       "
                  f"dead(dec)   verdict")
            sel = [r for r in rows if r["mode"] == mode and r["dataset"] == name]
            for r in sel:
                h = r["health"]
                tried = " ".join(f"{a['seed']}:{'ok' if a['healthy'] else 'x'}({a['rel_rec']:.2f})"
                                 for a in r["attempts"]) if len(r["attempts"]) > 1 else ""
                print(f"{r['seed']:>4} {len(r['attempts']):>5} {h.rel_rec:8.3f} {h.eff_rank:8.1f}  "
                      f"{'/'.join(f'{d:.2f}' for d in h.dead):<15} "
                      f"{'/'.join(f'{d:.2f}' for d in h.dead_decoder):<11} "
                      f"{'healthy' if h.healthy else 'COLLAPSED'} {tried}")
            bad = sum(not r["health"].healthy for r in sel)
            draws = sum(not a["healthy"] for r in sel for a in r["attempts"])
            print(f"collapsed seeds: {bad} of {len(sel)} (collapsed draws, restarts included: "
                  f"{draws}); {sum(r['seconds'] for r in sel):.0f} s")
    print("\nsummary: " + "; ".join(
        f"{mode}: {sum(not r['health'].healthy for r in rows if r['mode'] == mode)} of "
        f"{sum(r['mode'] == mode for r in rows)} collapsed" for mode in args.modes)
        + f" (wall {time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
