"""Stage tables: reports/results.md, our numbers beside the paper's, plus per-stage timings."""
from common import ROOT, load_params

from deepsc.io import atomic_path, read_json
from deepsc.report import external_table, results_table, timings_table


def main():
    p = load_params()
    if True:  # no timing of its own: it reads everyone else's
        parts = ["# Results", "",
                 f"Produced by `dvc repro`. Mean ± std over seeds {p['seeds']}, final training step, "
                 "no labels before evaluation. 'post-processing' says what produced the affinity: "
                 "`none` = spectral clustering of 1/2(|C|+|C^T|); `dscnet` = DSC-Net's post_proC "
                 f"(rho, d, alpha = {p['cluster']['dscnet']['rho']}, {p['cluster']['dscnet']['d']}, "
                 f"{p['cluster']['dscnet']['alpha']}). Paper numbers: LRSC (AAAI 2021), Tables 1-2.", ""]
        for ds in p["suite"]["datasets"]:
            metrics = {m.stem: read_json(m) for m in sorted((ROOT / "reports" / "metrics" / ds).glob("*.json"))}
            order = list(p["suite"]["variants"]) + ["kmeans", "spectral_knn"]
            metrics = {k: metrics[k] for k in order if k in metrics}
            parts += [f"## {ds}", "", results_table(ds, metrics), ""]
        ext = p["suite"].get("external", [])
        if ext:
            metas = {ds: read_json(ROOT / "reports" / "meta" / f"{ds}.json") for ds in ext}
            teachers = {ds: read_json(ROOT / "reports" / "teacher" / f"{ds}.json") for ds in ext}
            parts += ["## External knowledge (teachers and meta-learners, issue 4)", "",
                      "Validation on held-out episodes of the *external* data: each episode is "
                      "adapted to (Algorithm 1's inner loop), encoded, self-expressed (ISTA on "
                      "eq. 6's C-terms) and clustered; ACC/NMI against the external labels. The "
                      "meta-learned initialisation is the one with the best held-out ACC; 'final' "
                      "is the last iteration's.", "", external_table(teachers, metas), ""]
        timings = [read_json(t) for t in sorted((ROOT / "reports" / "timings").glob("*.json"))]
        parts += ["## Run time of the last `dvc repro` of each stage (this machine)", "",
                  timings_table(timings), ""]
        with atomic_path(ROOT / "reports" / "results.md", ".md") as tmp:
            tmp.write_text("\n".join(parts))


if __name__ == "__main__":
    main()
