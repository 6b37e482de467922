"""Stage tables: reports/results.md, the paper's Tables 1-3 with our numbers beside the paper's,
the detailed per-dataset tables (every post-processing), the external-knowledge table and the
per-stage timings."""
from common import ROOT, dataset_info, is_ok, load_params
from suites import all_methods

from deepsc.io import atomic_path, read_json
from deepsc.report import (TABLE1_DATASETS, TABLE2_DATASETS, external_table, results_table,
                           sscn_table, table1, table2, table3, timings_table)


def load_metrics(p: dict) -> dict:
    """reports/metrics/<dataset>/<method>.json of the suite; for datasets outside the suite whose
    data is unavailable, a stub saying so (the tables then read 'not run: data unavailable')."""
    metrics = {}
    for ds in all_methods(p):
        metrics[ds] = {m.stem: read_json(m) for m in sorted((ROOT / "reports" / "metrics" / ds).glob("*.json"))}
    for ds in TABLE1_DATASETS + sum(TABLE2_DATASETS.values(), []) + ["notmnist5k"]:
        if ds not in metrics and ds in p["data"]["datasets"]:
            info = dataset_info(ds)
            if not is_ok(info):
                stub = {"status": "data unavailable (reports/data.md says why)"}
                metrics[ds] = {m: stub for m in ["dscn_l1", "dscn_l2", "lrsc_l1", "lrsc_l2",
                                                 "lrsc_l2_task", "lrsc_l2_task_model", "kmeans",
                                                 "spectral_knn", "ssc", "ensc", "ssc_omp", "lrr"]}
    return metrics


def main():
    p = load_params()
    metrics = load_metrics(p)
    dd = p["cluster"]["dscnet"]
    parts = ["# Results", "",
             f"Produced by `dvc repro`. Mean ± std over seeds {p['seeds']}, final training step, "
             "no target labels before evaluation. Each cell of Tables 1-3 is 'ours (paper)'; ours "
             "with the paper's post-processing: spectral clustering of 1/2(|C|+|C^T|). 'not run: "
             "not in the suite' = add the dataset to suite.datasets / suite.external of "
             "params.yaml. Paper numbers: LRSC (AAAI 2021), Tables 1-3.", "",
             "## Table 1: clustering results", "", table1(metrics), "",
             "## Table 2: Fashion-MNIST and notMNIST at 1,000 / 5,000 / 10,000 points", "",
             table2(metrics), "",
             "## Table 3: ablation of LRSC-L2 (paper: notMNIST at 5,000 points and BBC)", "",
             table3(metrics, ["bbc", "notmnist5k"] + [d for d in p["suite"].get("external", [])
                                                     if d not in ("bbc", "notmnist5k")]), "",
             "## Every run, every post-processing", "",
             "'post-processing': `none` = spectral clustering of 1/2(|C|+|C^T|); `dscnet` = "
             f"DSC-Net's post_proC (rho, d, alpha = {dd['rho']}, {dd['d']}, {dd['alpha']}); "
             "`features` = the reference rows on the prepared features.", ""]
    for ds, methods in all_methods(p).items():
        m = {k: metrics[ds][k] for k in methods if k in metrics[ds]}
        parts += [f"### {ds}", "", results_table(ds, m), ""]
    sscn_sets = p.get("sscn", {}).get("datasets") or {}
    if sscn_sets:
        reports = {r.stem: read_json(r) for r in sorted((ROOT / "reports" / "sscn").glob("*.json"))}
        parts += ["## SSCN (Busch et al. 2020), Table 1: transductive and inductive", "",
                  "SSCN trains on the first set and clusters it from Q = H H^T (post-processing "
                  f"`{p['sscn']['pseudo_labels']}`) and with its rotation classifier "
                  "(`classifier`); SSCN-OoS clusters the second, unseen set with the classifier "
                  "alone. DSC-Net: the same autoencoder, a full n x n C. Paper numbers are MNIST's "
                  "(10 runs; memory there is GPU memory, here the stage's CPU peak RSS, every "
                  "seed and both post-processings included; wall time of the whole stage). "
                  "`make bench-sscn` times the phases of one run.", ""]
        for train, oos in sscn_sets.items():
            parts += [f"### {train} -> {oos}", "",
                      sscn_table(metrics, reports, train, oos, p["sscn"]["pseudo_labels"]), ""]
    ext = p["suite"].get("external", [])
    if ext:
        cells = [f"{ds}-{init}" for ds in ext for init in p["suite"]["inits"]]
        metas = {c: read_json(ROOT / "reports" / "meta" / f"{c}.json") for c in cells}
        teachers = {c: read_json(ROOT / "reports" / "teacher" / f"{c.rsplit('-', 1)[0]}.json")
                    for c in cells}
        parts += ["## External knowledge: teachers and meta-learners", "",
                  "Validation on held-out episodes of the *external* data: each episode is "
                  "adapted to (Algorithm 1's inner loop), encoded, self-expressed (ISTA on "
                  "eq. 6's C-terms) and clustered; ACC/NMI against the external labels. The "
                  "meta-learned initialisation is the one with the best held-out ACC; 'final' "
                  "is the last iteration's. `-task`: eq. 6 with eta = 0 (Table 3's task-level "
                  "row); `-task_model`: with eta.", "", external_table(teachers, metas), ""]
    timings = [read_json(t) for t in sorted((ROOT / "reports" / "timings").glob("*.json"))]
    parts += ["## Run time of the last `dvc repro` of each stage (this machine)", "",
              timings_table(timings), ""]
    with atomic_path(ROOT / "reports" / "results.md", ".md") as tmp:
        tmp.write_text("\n".join(parts))


if __name__ == "__main__":
    main()
