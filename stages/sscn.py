"""Stages sscn_pretrain@<train>, sscn@<train> and sscn_dscnet@<train> (SSCN, papers/sscn-2020.md).

- ``pretrain``: the reference setting's autoencoder on the training set (sscn.ae); shared by
  every seed and by the DSC-Net comparison ("all models use the same pre-trained auto-encoder").
- ``train``: per seed, Definition 3 on mini-batches, spectral clustering of the training set's
  Q (every cluster.postprocess; transductive), the rotation classifier on the
  sscn.pseudo_labels post-processing's labels, and the inductive clustering of the
  out-of-sample set sscn.datasets[<train>] by that classifier. Writes
  reports/clusters/<train>/sscn.npz (also 'classifier/seed<s>': the classifier on the training
  points), reports/clusters/<oos>/sscn_oos.npz, and reports/sscn/<train>.json (parameters,
  time per phase, peak memory).
- ``dscnet``: DSC-Net (eq. 1, L2) on the same training set from the same autoencoder, full batch
  (an n x n C), for the parameter / memory / time comparison of the paper's Table 1.

Reads images only; labels are read by the evaluate stage.
"""

from deepsc.runtime import keep_freed_memory

keep_freed_memory()   # first: freed n x n blocks are reused, not page-faulted anew (deepsc/runtime.py)

import time

import numpy as np
import torch

from common import ROOT, dataset_info, is_ok, load_features, load_params, stage_args, timed

from deepsc.cluster import cluster_coef_seeds
from deepsc.finetune import finetune_selfexpression, pick_device
from deepsc.io import (Stopwatch, atomic_dir, read_json, save_torch, write_json,
                       write_npz)
from deepsc.sscn import SSCNAutoencoder, count_parameters, predict_images, pretrain_sscn_autoencoder, run_sscn

AE_DIR = ROOT / "models" / "sscn_ae"


def unavailable(*infos) -> str | None:
    for info in infos:
        if not is_ok(info):
            return f"{info['status']}: {info.get('reason', '')}"
    return None


def pretrain(ds: str, p: dict, info: dict) -> None:
    s = p["sscn"]["ae"]
    if is_ok(info):
        dev = pick_device(p["finetune"]["device"])
        x = torch.as_tensor(load_features(ds), device=dev)
        ae, curve = pretrain_sscn_autoencoder(x, epochs=s["epochs"], lr=s["lr"], seed=s["seed"],
                                              batch_size=s.get("batch_size"))
        save_torch({"state_dict": {k: v.cpu() for k, v in ae.state_dict().items()},
                    "curve": curve, "status": "ok"}, AE_DIR / f"{ds}.pt")
    else:
        save_torch({"status": unavailable(info)}, AE_DIR / f"{ds}.pt")


def train(ds: str, oos: str, p: dict, info: dict) -> None:
    s, seeds = p["sscn"], p["sscn"]["seeds"]
    ckpt = torch.load(AE_DIR / f"{ds}.pt", weights_only=True)
    oos_info = dataset_info(oos)
    reason = unavailable(info, oos_info) or (None if ckpt["status"] == "ok" else ckpt["status"])
    dev = pick_device(p["finetune"]["device"])
    trans, induct, report = {}, {}, {"status": "ok" if reason is None else reason, "runs": []}
    with atomic_dir(ROOT / "models" / "sscn" / ds) as out:
        if reason is None:
            X = load_features(ds)
            Xo = load_features(oos)
            for seed in seeds:
                t_start = time.perf_counter()
                res = run_sscn(
                    X, ckpt["state_dict"], n_clusters=info["n_clusters"], q=s["q"],
                    lambda1=s["lambda1"], lambda2=s["lambda2"], lambda3=s["lambda3"],
                    batch_size=s["batch_size"], epochs=s["epochs"], lr=s["lr"],
                    clf_epochs=s["classifier"]["epochs"], clf_batch_size=s["classifier"]["batch_size"],
                    clf_lr=s["classifier"]["lr"], clf_betas=s["classifier"]["betas"],
                    clf_iters_per_batch=s["classifier"]["iters_per_batch"], seed=seed,
                    postprocess=p["cluster"]["postprocess"], pseudo_labels=s["pseudo_labels"],
                    pp_params=p["cluster"], block=s["block"], device=str(dev))
                for pp, lab in res["labels"].items():
                    trans[f"{pp}/seed{seed}"] = lab
                trans[f"classifier/seed{seed}"] = res["clf"].predict(res["H"])
                with Stopwatch() as t0:
                    induct[f"classifier/seed{seed}"] = predict_images(res["model"], res["clf"], Xo)
                res["seconds"]["inductive"] = t0.seconds
                report["runs"].append({"seed": seed, "seconds": res["seconds"],
                                       "total_s": time.perf_counter() - t_start,
                                       "curve": res["curve"],
                                       "classifier_curve": res["clf_curve"]})
                report["parameters"] = res["parameters"]
                save_torch({"state_dict": res["model"].state_dict(), "R": res["clf"].R},
                           out / f"seed{seed}.pt")
        report.update(n_train=info.get("n"), n_oos=oos_info.get("n"), oos=oos)
        write_json(out / "status.json", {"status": report["status"]})
    st = np.array(report["status"])
    write_npz(ROOT / "reports" / "clusters" / ds / "sscn.npz", __status__=st, **trans)
    write_npz(ROOT / "reports" / "clusters" / oos / "sscn_oos.npz", __status__=st, **induct)
    return report


def dscnet(ds: str, p: dict, info: dict) -> dict:
    """DSC-Net from the SSCN autoencoder: one run (constant C init, full batch: deterministic);
    spectral clustering per seed from the one C."""
    d = p["sscn"]["dscnet"]
    ckpt = torch.load(AE_DIR / f"{ds}.pt", weights_only=True)
    reason = unavailable(info) or (None if ckpt["status"] == "ok" else ckpt["status"])
    labels, report = {}, {"status": "ok" if reason is None else reason}
    if reason is None and d["steps"] > 0:
        dev = pick_device(p["finetune"]["device"])
        x = torch.as_tensor(load_features(ds), device=dev)
        ae = SSCNAutoencoder(x.shape[1], x.shape[-1]).to(dev)
        ae.load_state_dict(ckpt["state_dict"])
        with Stopwatch() as sw:
            se, curve = finetune_selfexpression(
                ae, x, steps=d["steps"], lr=p["finetune"]["lr"], lambda1=d["lambda1"],
                lambda2=d["lambda2"], reg="l2", c_init=p["finetune"]["c_init"],
                zero_diag=p["finetune"]["zero_diag"])
        C = se.C.detach().cpu().numpy()
        report.update(train_s=sw.seconds, parameters=count_parameters(ae, se), curve=curve)
        del se
        with Stopwatch() as sc:
            for pp in p["cluster"]["postprocess"]:   # one embedding of C, k-means per seed
                by_seed = cluster_coef_seeds(C, info["n_clusters"], pp, p["sscn"]["seeds"],
                                             **p["cluster"].get(pp, {}))
                labels.update({f"{pp}/seed{seed}": lab for seed, lab in by_seed.items()})
        report["cluster_s"] = sc.seconds
    elif reason is None:
        report["status"] = "not run: sscn.dscnet.steps = 0"
    write_npz(ROOT / "reports" / "clusters" / ds / "dscnet_sscn_ae.npz",
              __status__=np.array(report["status"]), **labels)
    return report


def main():
    args = stage_args(__doc__, "dataset", "step")
    p = load_params()
    ds = args.dataset
    if ds not in p["sscn"]["datasets"]:
        raise SystemExit(f"{ds!r} is not a key of sscn.datasets in params.yaml")
    info = dataset_info(ds)
    name = {"pretrain": "sscn_pretrain", "train": "sscn", "dscnet": "sscn_dscnet"}[args.step]
    with timed(f"{name}@{ds}"):
        if args.step == "pretrain":
            pretrain(ds, p, info)
            return
        report = (train(ds, p["sscn"]["datasets"][ds], p, info) if args.step == "train"
                  else dscnet(ds, p, info))
    timing = read_json(ROOT / "reports" / "timings" / f"{name}@{ds}.json")
    report.update(wall_s=timing["wall_s"], peak_rss_mib=timing["peak_rss_mib"])
    write_json(ROOT / "reports" / "sscn" / f"{name}@{ds}.json", report)


if __name__ == "__main__":
    main()
