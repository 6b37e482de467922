"""Choose DSC-Net's lambda1/lambda2 on *external* data only (never on a target's labels).

Image targets (Fashion-MNIST) are tuned on MNIST test images (100 per class, 32x32), text
targets (BBC) on 5 groups of 20 Newsgroups in their own TF-IDF+SVD(256) space. Both are the
external data of the papers' protocol, so their labels may be used for model selection.

    LRSC_DATA_MIRROR=../shared/data python tools/tune_external.py --kind image
"""
import argparse
import itertools
import tarfile
import tempfile
from pathlib import Path

import numpy as np

from deepsc.cluster import cluster_coef
from deepsc.data import loaders, resolve
from deepsc.data.features import resize_images, sample_per_class, tfidf_svd
from deepsc.finetune import train_dscnet
from deepsc.metrics import scores

GROUPS = ["comp.graphics", "rec.autos", "sci.space", "talk.politics.mideast", "soc.religion.christian"]


def external(kind: str, tmp: Path):
    if kind == "image":
        resolve("mnist", tmp)
        images, labels = loaders.load_idx_split(tmp, "test")
        idx = sample_per_class(labels, 100, seed=123)
        return resize_images(images[idx] / 255.0, 32), labels[idx], 10
    resolve("newsgroups20", tmp)
    docs, labels = [], []
    with tarfile.open(tmp / "20news-bydate.tar.gz") as tf:
        for m in tf.getmembers():
            parts = m.name.split("/")
            if m.isfile() and parts[0] == "20news-bydate-test" and parts[1] in GROUPS:
                docs.append(tf.extractfile(m).read().decode("latin-1"))
                labels.append(GROUPS.index(parts[1]))
    X, _ = tfidf_svd(docs, 256, seed=0)
    return X, np.array(labels), len(GROUPS)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--kind", choices=["image", "text"], required=True)
    ap.add_argument("--lambda1", type=float, nargs="+", default=[1.0, 10.0, 100.0])
    ap.add_argument("--lambda2", type=float, nargs="+", default=[0.1, 1.0])
    ap.add_argument("--reg", default="l2")
    ap.add_argument("--k1", type=int, default=None)
    ap.add_argument("--k2", type=int, default=200)
    ap.add_argument("--latent", type=int, default=128)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        X, y, k = external(args.kind, Path(d))
    arch = {"channels": [10, 20, 30, 40], "kernel": 3} if args.kind == "image" else {"latent_dim": args.latent}
    k1 = args.k1 if args.k1 is not None else (3000 if args.kind == "image" else 1000)
    for l1, l2 in itertools.product(args.lambda1, args.lambda2):
        for seed in args.seeds:
            res = train_dscnet(X, args.kind, arch=arch, seed=seed, k1=k1, batch_size=128,
                               lr_pretrain=1e-3, k2=args.k2, lr=1e-3, lambda1=l1, lambda2=l2,
                               reg=args.reg, c_init=1e-4, progress=False)
            for pp in ("none", "dscnet"):
                s = scores(y, cluster_coef(res["C"], k, pp, seed=seed, rho=0.1, d=9, alpha=8))
                print(f"{args.kind} reg={args.reg} lambda1={l1:g} lambda2={l2:g} seed={seed} {pp:7s} "
                      f"acc={s['acc']:.3f} nmi={s['nmi']:.3f} ari={s['ari']:.3f}", flush=True)


if __name__ == "__main__":
    main()
