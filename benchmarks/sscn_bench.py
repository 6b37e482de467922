"""SSCN benchmark: time per phase and peak memory of one run, and memory flat in N.

    python benchmarks/sscn_bench.py                # MNIST: train on the 10k test images, 60k OoS
    python benchmarks/sscn_bench.py --epochs 5     # shorter

Part 1 runs one seed of SSCN as the sscn@ stage does (params.yaml's sscn block; the autoencoder
from models/sscn_ae/<train>.pt when `dvc repro` made it, else pre-trained here first and not
counted), in a fresh process, and prints the time per phase and the peak RSS against the
public reference code's figures on this CPU (REFERENCE.md section 3 / issue 6: 305 s a run,
5.9 GiB peak), and against one 10,000 x 10,000 self-expression step (C^T Z, forward and
backward) measured in this same run as a yardstick of the machine's speed.

Part 2 clusters N = 10,000 and N = 70,000 images inductively with the trained model, each in a
fresh process reading a .npy from disk one batch at a time (deepsc.io.NpyRows), and prints
both peak RSS and their ratio.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from deepsc.io import NpyRows, peak_rss_mib  # noqa: E402
from deepsc.sscn import (SSCN, RotationClassifier, predict_images,  # noqa: E402
                         pretrain_sscn_autoencoder, run_sscn)

REFERENCE = {"selfexpression": 92, "spectral": 57, "classifier": 139, "inductive": 14,
             "total": 305, "peak_gib": 5.9}


def load(ds):
    return np.load(ROOT / "data" / "prepared" / ds / "features.npz")["X"]


def yardstick(n=10_000, d=480) -> float:
    C = torch.full((n, n), 1e-4, requires_grad=True)
    Z = torch.rand(n, d)
    best = float("inf")
    for _ in range(2):
        t = time.perf_counter()
        (C.T @ Z).pow(2).sum().backward()
        best = min(best, time.perf_counter() - t)
        C.grad = None
    return best


def run_one(args) -> dict:
    import yaml
    p = yaml.safe_load((ROOT / "params.yaml").read_text())
    s = p["sscn"]
    X = load(args.train)
    ae_path = ROOT / "models" / "sscn_ae" / f"{args.train}.pt"
    if ae_path.is_file():
        state = torch.load(ae_path, weights_only=True)["state_dict"]
    else:
        print(f"{ae_path} missing: pre-training the autoencoder first (not timed)", file=sys.stderr)
        state = pretrain_sscn_autoencoder(torch.as_tensor(X), epochs=s["ae"]["epochs"],
                                          lr=s["ae"]["lr"], seed=0, progress=False)[0].state_dict()
    t0 = time.perf_counter()
    res = run_sscn(X, state, n_clusters=10, q=s["q"], lambda1=s["lambda1"], lambda2=s["lambda2"],
                   lambda3=s["lambda3"], batch_size=s["batch_size"],
                   epochs=args.epochs or s["epochs"], lr=s["lr"],
                   clf_epochs=s["classifier"]["epochs"], clf_batch_size=s["classifier"]["batch_size"],
                   clf_lr=s["classifier"]["lr"], clf_betas=s["classifier"]["betas"],
                   clf_iters_per_batch=s["classifier"]["iters_per_batch"], seed=args.seed,
                   postprocess=[s["pseudo_labels"]], pseudo_labels=s["pseudo_labels"],
                   pp_params=p["cluster"], block=s["block"], progress=False)
    Xo = load(args.oos)
    t = time.perf_counter()
    predict_images(res["model"], res["clf"], Xo)
    sec = dict(res["seconds"], inductive=time.perf_counter() - t)
    sec["total"] = time.perf_counter() - t0
    torch.save({"state_dict": res["model"].state_dict(), "R": res["clf"].R}, args.save)
    return {"seconds": sec, "peak_rss_mib": peak_rss_mib(), "parameters": res["parameters"]}


def inductive_only(args) -> dict:
    ckpt = torch.load(args.save, weights_only=True)
    model = SSCN(10, ckpt["R"].shape[0] // 10)
    model.load_state_dict(ckpt["state_dict"])
    clf = RotationClassifier(10, ckpt["R"].shape[0] // 10)
    clf.R = ckpt["R"]
    X = NpyRows(args.images)  # read batch by batch from disk: nothing of size N is resident
    base = peak_rss_mib()
    t = time.perf_counter()
    labels = predict_images(model, clf, X)
    return {"n": len(X), "seconds": time.perf_counter() - t, "peak_rss_mib": peak_rss_mib(),
            "rss_before_mib": base, "labels_mib": labels.nbytes / 2**20}


def child(mode: str, args, **extra) -> dict:
    cmd = [sys.executable, __file__, "--child", mode, "--train", args.train, "--oos", args.oos,
           "--seed", str(args.seed), "--epochs", str(args.epochs or 0), "--save", args.save]
    for k, v in extra.items():
        cmd += [f"--{k}", str(v)]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--train", default="mnist10k")
    ap.add_argument("--oos", default="mnist60k")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=0, help="0: params.yaml's sscn.epochs")
    ap.add_argument("--child", choices=["run", "inductive"])
    ap.add_argument("--save", default=str(Path(tempfile.gettempdir()) / "sscn_bench.pt"))
    ap.add_argument("--images")
    ap.add_argument("--inductive-only", action="store_true",
                    help="part 2 only, with the model part 1 saved to --save")
    args = ap.parse_args()
    if args.child == "run":
        print(json.dumps(run_one(args)))
        return
    if args.child == "inductive":
        print(json.dumps(inductive_only(args)))
        return

    if not args.inductive_only:
        part1(args)
    part2(args)


def part1(args):
    ys = yardstick()
    r = child("run", args)
    sec, ref = r["seconds"], REFERENCE
    spectral = sum(v for k, v in sec.items() if k.startswith("spectral")) + sec.get("embed", 0)
    print(f"SSCN, one run ({args.train} -> {args.oos}, seed {args.seed}), "
          f"{r['parameters']:,} parameters; yardstick: one 10k x 10k C^T Z step fwd+bwd "
          f"= {ys:.2f} s in this run")
    print(f"{'phase':<16}{'ours s':>9}{'reference s':>13}{'ref/ours':>10}{'ours/yardstick':>16}")
    for name, ours in [("selfexpression", sec["selfexpression"]), ("spectral", spectral),
                       ("classifier", sec["classifier"]), ("inductive", sec["inductive"]),
                       ("total", sec["total"])]:
        print(f"{name:<16}{ours:>9.1f}{ref[name]:>13.0f}{ref[name] / ours:>10.2f}{ours / ys:>16.1f}")
    print(f"peak RSS: {r['peak_rss_mib']:.0f} MiB (reference {ref['peak_gib'] * 1024:.0f} MiB, "
          f"ratio {ref['peak_gib'] * 1024 / r['peak_rss_mib']:.2f}x lower)")


def part2(args):
    """Memory flat in N."""
    X10 = load(args.train)
    Xo = load(args.oos)
    with tempfile.TemporaryDirectory() as tmp:
        res = {}
        for n, parts in [(len(X10), [X10]), (len(X10) + len(Xo), [X10, Xo])]:
            path = Path(tmp) / f"x{n}.npy"
            mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32,
                                           shape=(n,) + X10.shape[1:])
            pos = 0
            for part in parts:
                mm[pos:pos + len(part)] = part
                pos += len(part)
            mm.flush()
            del mm
            res[n] = child("inductive", args, images=path)
    (n1, a), (n2, b) = sorted(res.items())
    print(f"inductive clustering, fresh process each, input read from disk batch by batch: "
          f"N={n1:,} peak "
          f"{a['peak_rss_mib']:.0f} MiB ({a['seconds']:.1f} s); N={n2:,} peak "
          f"{b['peak_rss_mib']:.0f} MiB ({b['seconds']:.1f} s); ratio {b['peak_rss_mib'] / a['peak_rss_mib']:.3f}")


if __name__ == "__main__":
    main()
