"""Stage plots: the figures a person would rather look at than read.

- reports/figures/ablation.png: Table 3 (the ablation of LRSC-L2) as bars, our mean per
  metric, a dot per seed, the paper's value as a black tick;
- reports/figures/loss_curves.png: the K2 loss per term (every column of
  reports/curves/<dataset>-<variant>.csv but seed and step), every (dataset, variant) of
  the suite, mean over seeds with a min-max band;
- reports/plots/k2_terms.csv: the same curves in long format (curve, term, step, value), drawn
  by `dvc plots show` / `dvc plots diff` with the template .dvc/plots/k2_terms.json.
"""
import csv

from common import ROOT, is_ok, load_params, prepared_dir, stage_args, timed

from deepsc.io import atomic_path, read_json
from deepsc.plots import ablation_figure, k2_long_rows, loss_curves_figure
from deepsc.report import ABLATION_ROWS, PAPER_ABLATION, ablation_datasets, not_run_label

ABLATION_LABELS = {"dscn_l2": "DSC-Net\n(base)", "lrsc_l2_task": "+ task",
                   "lrsc_l2_task_model": "+ task\n+ model", "lrsc_l2": "+ task + model\n+ self"}
assert list(ABLATION_LABELS) == list(ABLATION_ROWS)


def read_rows(path) -> list[dict]:
    if not path.is_file():
        return []
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def metric(ds: str, method: str) -> dict | None:
    path = ROOT / "reports" / "metrics" / ds / f"{method}.json"
    return read_json(path) if path.is_file() else None


def main():
    stage_args(__doc__)   # no arguments; --help prints the docstring
    p = load_params()
    s = p["suite"]
    out = ROOT / "reports" / "figures"
    with timed("plots"):
        results, notes = {}, {}
        for ds in ablation_datasets(s.get("external", [])):
            results[ds] = {m: metric(ds, m) for m in ABLATION_ROWS}
            statuses = [r.get("status") for r in results[ds].values() if r is not None]
            info = prepared_dir(ds) / "info.json"  # a paper dataset outside the suite: no data?
            if (not statuses and ds in p["data"]["prepare"] and info.is_file()
                    and not is_ok(read_json(info))):
                statuses = ["data unavailable"]
            notes[ds] = f"not run: {not_run_label(statuses[0] if statuses else None)}"
        with atomic_path(out / "ablation.png", ".png") as tmp:
            ablation_figure(results, PAPER_ABLATION, ABLATION_LABELS, tmp, notes=notes,
                            title="Table 3: ablation of LRSC-L2 (bars: ours, dots: seeds, "
                                  "ticks: paper)")
        curves: dict[str, dict[str, list[dict]]] = {}
        for ds in s["datasets"]:
            for v in s["variants"]:
                curves.setdefault(ds, {})[v] = read_rows(ROOT / "reports" / "curves" / f"{ds}-{v}.csv")
        for ds in s.get("external", []):
            for v in s.get("lrsc", []):
                curves.setdefault(ds, {})[v] = read_rows(ROOT / "reports" / "curves" / f"{ds}-{v}.csv")
        with atomic_path(out / "loss_curves.png", ".png") as tmp:
            loss_curves_figure(curves, tmp, title="K2 loss per term (mean over seeds, band: "
                                                  "min-max)")
        rows = k2_long_rows({f"{ds}-{v}": r for ds, vs in curves.items() for v, r in vs.items()})
        with atomic_path(ROOT / "reports" / "plots" / "k2_terms.csv", ".csv") as tmp, \
                open(tmp, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=["curve", "term", "step", "value"])
            w.writeheader()
            w.writerows(rows)


if __name__ == "__main__":
    main()
