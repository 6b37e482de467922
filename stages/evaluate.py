"""Stage evaluate: ACC (Hungarian) / NMI / ARI of every clustering against the true labels.

The only stage that reads labels. Writes reports/metrics/<dataset>/<method>.json with, per
post-processing, the mean ± std over seeds and the per-seed values.
"""
import numpy as np

from common import ROOT, dataset_info, is_ok, load_params, prepared_dir, timed
from suites import all_methods

from deepsc.io import atomic_dir, write_json
from deepsc.metrics import scores, summarize


def evaluate_file(path, y, seeds) -> dict:
    with np.load(path) as f:
        status = str(f["__status__"])
        groups = {}
        for key in f.files:
            if key != "__status__":
                pp, seed = key.split("/seed")
                groups.setdefault(pp, {})[int(seed)] = f[key]
    if status != "ok":
        return {"status": status}
    results = {}
    for pp, by_seed in groups.items():
        if sorted(by_seed) != sorted(seeds):
            raise ValueError(f"{path}: seeds {sorted(by_seed)} differ from params seeds {seeds}; "
                             f"re-run the upstream stage")
        results[pp] = summarize([scores(y, by_seed[s]) for s in seeds])
    return {"status": "ok", "n": int(len(y)), "seeds": list(seeds), "results": results}


def main():
    p = load_params()
    with timed("evaluate"), atomic_dir(ROOT / "reports" / "metrics") as out:
        for ds, methods in all_methods(p).items():
            info = dataset_info(ds)
            y = np.load(prepared_dir(ds) / "labels.npz")["y"] if is_ok(info) else None
            for method in methods:
                path = ROOT / "reports" / "clusters" / ds / f"{method}.npz"
                m = evaluate_file(path, y, p["seeds"]) if is_ok(info) else \
                    {"status": f"data unavailable ({info.get('reason', '')})"}
                write_json(out / ds / f"{method}.json", m)


if __name__ == "__main__":
    main()
