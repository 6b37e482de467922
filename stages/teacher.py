"""Stage teacher@<dataset>: the deeper network Phi_T of LRSC (model level, eq. 5, Remark).

Trains two teachers on the target's external data with its labels (the Remark's two-fold
scheme: one on M1, one on M2) and writes
- models/teacher/<dataset>/{m1,m2}.pt: the teachers' weights;
- data/teacher/<dataset>.npz: `meta` = each external sample's feature from the teacher that
  did not see it, `fold`, and `target` = features of the target data (teacher.target);
- reports/teacher/<dataset>.json: each teacher's accuracy on the other fold (a sanity
  number about the external data, not a target metric);
- in the npz also `proxy`: features of every external sample from a third teacher trained on
  Algorithm 1's meta-train split only (meta.val_frac, meta.seed, K = meta.k), which tune@
  uses for its proxy targets drawn from the held-out split (`proxy_heldout`: 'classes' when
  whole classes are held out, so that teacher has not seen them, or 'samples').
T is the output of hidden layer teacher.<kind>.layer (an int; default the last) or, with
`auto`, of the layer whose features have the best k-NN(10) label agreement on that held-out
split, scored on the proxy teacher (deepsc.teacher.layer_agreement; every layer's score in
the report). Never reads the target's labels.
"""

from deepsc.runtime import keep_freed_memory

keep_freed_memory()   # first: freed n x n blocks are reused, not page-faulted anew (deepsc/runtime.py)

import numpy as np

from common import (ROOT, dataset_info, external_data, load_features, load_params, stage_args,
                    timed)

from deepsc.io import atomic_dir, save_torch, write_json, write_npz
from deepsc.meta import heldout_split
from deepsc.teacher import (choose_layer, extract_features, layer_agreement, proxy_teacher,
                            target_features, two_fold_teachers)


def main():
    ds = stage_args(__doc__, "dataset").dataset
    p = load_params()
    info = dataset_info(ds)
    cfg = p["teacher"]
    feats, report = ROOT / "data" / "teacher" / f"{ds}.npz", ROOT / "reports" / "teacher" / f"{ds}.json"
    with timed(f"teacher@{ds}"), atomic_dir(ROOT / "models" / "teacher" / ds) as out:
        ext = external_data(p, ds, info)
        if isinstance(ext, str):
            write_json(out / "status.json", {"status": "unavailable", "reason": ext})
            write_npz(feats, meta=np.zeros((0, 0), np.float32), fold=np.zeros(0, np.int64),
                      target=np.zeros((0, 0), np.float32), proxy=np.zeros((0, 0), np.float32),
                      proxy_heldout=np.array("none"))
            write_json(report, {"status": "unavailable", "reason": ext})
            return
        X, y, name = ext
        kind = info["kind"]
        hp = cfg[kind]
        m = p["meta"]
        k = info["n_clusters"] if m["k"] == "auto" else int(m["k"])
        train_idx, val_idx, how = heldout_split(y, k, m["val_frac"], m["seed"])
        dev = p["finetune"]["device"]
        kw = dict(epochs=hp["epochs"], batch_size=hp["batch_size"], lr=hp["lr"],
                  weight_decay=hp["weight_decay"], seed=cfg["seed"], device=dev)
        proxy_model = proxy_teacher(X, y, train_idx, kind, hp["arch"], **kw)
        # T's layer: fixed, or (auto) the one that agrees best with the held-out external data
        agreement = layer_agreement(proxy_model, X[val_idx], y[val_idx], device=dev)
        try:
            layer = choose_layer(hp.get("layer", proxy_model.feature_layers), agreement)
        except ValueError as e:
            raise SystemExit(f"teacher.{kind}.layer in params.yaml: {e}")
        proxy = extract_features(proxy_model, X, device=dev, layer=layer)
        res = two_fold_teachers(X, y, kind, hp["arch"], layer=layer, **kw)
        for fold, model in res["models"].items():
            save_torch({"state_dict": model.state_dict(), "kind": kind, "arch": hp["arch"],
                        "input_shape": list(X.shape[1:]), "n_classes": int(len(model.classes)),
                        "layer": layer}, out / f"{fold}.pt")
        T = target_features(res["models"], load_features(ds), cfg["target"], device=dev,
                            layer=layer)
        write_npz(feats, meta=res["meta_features"], fold=res["fold"], target=T, proxy=proxy,
                  proxy_heldout=np.array(how))
        write_json(out / "status.json", {"status": "ok", "external": name})
        write_json(report, {"status": "ok", "external": name, "kind": kind, "n_external": len(X),
                            "n_classes": int(len(np.unique(y))), "feature_dim": int(T.shape[1]),
                            "heldout_acc": res["heldout_acc"], "epochs": hp["epochs"],
                            "target_features_from": cfg["target"], "layer": layer,
                            "layer_setting": hp.get("layer", "last"), "proxy_heldout": how,
                            "layer_knn10_agreement_heldout": {str(k): round(v, 4)
                                                              for k, v in agreement.items()}})


if __name__ == "__main__":
    main()
