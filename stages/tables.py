"""Stage tables: reports/results.md. It opens with a summary (per dataset of the suite: our
best deep row, our best reference row, the paper's LRSC-L2) and, once per dataset, what data is
missing and how to provide it; then the paper's Tables 1-3 with our numbers beside the paper's,
the detailed per-dataset tables (every post-processing), SSCN, the external-knowledge table and
the per-stage timings. A cell without a number says why in a few words, with a footnote."""
from common import ROOT, is_ok, load_params, prepared_dir, stage_args, suite_methods
from suites import all_methods

from deepsc.io import atomic_path, read_json
from deepsc.report import (ABLATION_ROWS, BASELINE_METHODS, PAPER_METHODS, TABLE1_DATASETS,
                           TABLE2_DATASETS, ablation_datasets, external_table, footnote_details,
                           footnotes, health_table, missing_data_section, results_table, sscn_table,
                           summary_table, table1, table2, table3, timings_table)

PAPER_DATASETS = TABLE1_DATASETS + sum(TABLE2_DATASETS.values(), []) + ["notmnist5k"]
ALL_ROWS = list(dict.fromkeys(PAPER_METHODS + list(ABLATION_ROWS) + ["kmeans", "spectral_knn"]
                              + BASELINE_METHODS))
LRSC_ROWS = [m for m in ALL_ROWS if m.startswith("lrsc")]


def load_infos(p: dict) -> dict:
    """prepare's info.json of each dataset in data.prepare (a folder left by an earlier run of a
    dataset no longer listed does not count)."""
    return {name: read_json(prepared_dir(name) / "info.json") for name in p["data"]["prepare"]
            if (prepared_dir(name) / "info.json").is_file()}


def external_lack(p: dict, ds: str, infos: dict) -> str:
    """Why a target of suite.datasets that is not in suite.external has no LRSC rows: it lacks
    external data here, or the suite just does not run it."""
    info = infos.get(ds, {})
    if not is_ok(info):
        return "data unavailable"
    if info.get("kind") == "text":
        return ("not in the suite (suite.external)" if info.get("n_meta") else
                f"no external data: {ds} has no meta corpus (data.datasets.{ds}.meta)")
    names = p["data"].get("external_images") or []
    if any(is_ok(infos.get(n, {})) for n in names):
        return "not in the suite (suite.external)"
    return (f"no external data: not in suite.external, and none of data.external_images "
            f"({', '.join(names) or 'empty'}) is prepared")


def paper_scale_runs(p: dict) -> dict[str, dict]:
    """The kept paper-scale runs (tools/paper_scale.py): reports/paper_scale/<dataset>/, for
    datasets outside the default suite, with their run.json (command, seeds, commit)."""
    suite = set(all_methods(p))
    runs = {}
    for run in sorted((ROOT / "reports" / "paper_scale").glob("*/run.json")):
        ds = run.parent.name
        if ds not in suite:
            runs[ds] = read_json(run)
    return runs


def load_metrics(p: dict, infos: dict, paper_runs: dict | None = None) -> dict:
    """reports/metrics/<dataset>/<method>.json of the suite and reports/paper_scale/<dataset>/
    of the kept paper-scale runs, plus stubs that say why a table row has no number: a paper
    dataset outside both whose data is missing ('data unavailable'), the LRSC rows of a target
    outside suite.external (what it lacks)."""
    metrics = {}
    for ds, methods in all_methods(p).items():  # only methods: other reports may sit beside them
        paths = {m: ROOT / "reports" / "metrics" / ds / f"{m}.json" for m in methods}
        metrics[ds] = {m: read_json(path) for m, path in paths.items() if path.is_file()}
    for ds in paper_scale_runs(p) if paper_runs is None else paper_runs:
        metrics[ds] = {path.stem: read_json(path) for path in
                       sorted((ROOT / "reports" / "paper_scale" / ds).glob("*.json"))
                       if path.stem not in ("run", "knowledge")}
    for ds in PAPER_DATASETS:
        if ds not in metrics and ds in infos and not is_ok(infos[ds]):
            metrics[ds] = {m: {"status": "data unavailable"} for m in ALL_ROWS}
    s = p["suite"]
    for ds in s["datasets"]:
        if ds not in s.get("external", []):
            lack = external_lack(p, ds, infos)
            for m in LRSC_ROWS:
                metrics.setdefault(ds, {}).setdefault(m, {"status": lack})
    return metrics


def run_pieces(run: dict) -> list[dict]:
    """A kept paper-scale run's pieces: its ``pieces`` (paper_scale.py --merge), or itself."""
    return run.get("pieces", [run])


def run_commands(run: dict) -> str:
    """The command(s) of a kept paper-scale run, one per piece."""
    return "`; `".join(r["command"] for r in run_pieces(run))


def paper_scale_note(runs: dict[str, dict], metrics: dict) -> str:
    """One line per kept paper-scale run: where its cells come from (command, seeds, commit)."""
    if not runs:
        return ""
    lines = ["Paper-scale rows (outside the default suite; run apart, kept in "
             "reports/paper_scale/<dataset>/, wall time per stage in its timings/):"]
    for ds, run in runs.items():
        seeds = sorted({tuple(m.get("seeds", [])) for m in metrics[ds].values()
                        if m.get("status") == "ok"})
        seeds_s = ", ".join(str(list(s)) for s in seeds) or "none finished"
        pieces = run_pieces(run)
        how = "; ".join(f"`{r['command']}` (experiment {r['experiment']}, code "
                        f"{r['code_commit'][:7]}"
                        + (f", rows {', '.join(r.get('rows', []))})" if len(pieces) > 1 else ")")
                        for r in pieces)
        lines.append(f"- {ds}: {how}, seeds {seeds_s}, every row it runs "
                     f"({', '.join(sorted(metrics[ds]))}); the other rows are not in that run.")
    return "\n".join(lines)


def table3_paper_runs(runs: dict, metrics: dict) -> list[str]:
    """Kept paper-scale datasets that ran a row only the ablation has (Table 3's middle rows)."""
    middle = [m for m in ABLATION_ROWS if m not in ("dscn_l2", "lrsc_l2")]
    return [ds for ds in runs if any(m in metrics.get(ds, {}) for m in middle)]


def split_timings(timings: list[dict], tune_datasets) -> tuple[list[dict], list[dict]]:
    """The stage timings of this suite, and those kept from a tune@ sweep that tune.datasets
    no longer lists (an earlier, separate run: listed apart, not in the suite's total)."""
    ours, apart = [], []
    for r in timings:
        off = r["stage"].startswith("tune@") and r["stage"][len("tune@"):] not in tune_datasets
        (apart if off else ours).append(r)
    return ours, apart


def main():
    stage_args(__doc__)   # no arguments; --help prints the docstring
    p = load_params()
    infos = load_infos(p)
    paper_runs = paper_scale_runs(p)
    metrics = load_metrics(p, infos, paper_runs)
    notes = footnote_details(metrics)
    dd = p["cluster"]["dscnet"]
    suite = list(suite_methods(p))
    extra = [d for d in suite if d not in PAPER_DATASETS]  # e.g. digits: not in the paper
    pl = p.get("sscn", {}).get("pseudo_labels", "dscnet")
    kept = paper_scale_note(paper_runs, metrics)
    summary = summary_table(metrics, list(all_methods(p)) + list(paper_runs),
                            protocol={"sscn": pl, "dscnet_sscn_ae": pl, "sscn_oos": "classifier"})
    t1 = table1(metrics, TABLE1_DATASETS + extra)
    t2 = table2(metrics)
    t3 = table3(metrics, ablation_datasets(p["suite"].get("external", [])
                                           + table3_paper_runs(paper_runs, metrics)))
    parts = ["# Results", "",
             f"Produced by `dvc repro`. Mean ± std over seeds {p['seeds']}, final training step, "
             "no target labels before evaluation. Cells of Tables 1-3 are 'ours (paper)', ours "
             "with the paper's post-processing (spectral clustering of 1/2(|C|+|C^T|)); paper "
             "numbers: LRSC (AAAI 2021), Tables 1-3. A cell without a number says why, and its "
             "footnote under the table says what to do.", "",
             "## Summary", "",
             "Per dataset of the suite: our best deep row (DSC-Net, LRSC, SSCN) and our best "
             "reference row (k-means, spectral, SSC, EnSC, SSC-OMP, LRR), mean ACC ± std with "
             "post-processing `none` (SSCN: its own), beside the paper's LRSC-L2.", "",
             summary, "", footnotes(summary, details=notes), ""] + ([kept, ""] if kept else [])
    missing = missing_data_section(infos, p["data"].get("download"))
    if missing:
        parts += [missing, ""]
    parts += ["## Table 1: clustering results", "",
              t1, "", footnotes(t1, details=notes), "", *([kept, ""] if kept else []),
              "## Table 2: Fashion-MNIST and notMNIST at 1,000 / 5,000 / 10,000 points", "",
              t2, "", footnotes(t2, details=notes), "",
              "## Table 3: ablation of LRSC-L2 (paper: notMNIST at 5,000 points and BBC)", "",
              "![Table 3 as bars: our mean, a dot per seed, the paper's value as a black tick]"
              "(figures/ablation.png)", "",
              t3, "", footnotes(t3, details=notes), "",
              "## Every run, every post-processing", "",
              "'post-processing': `none` = spectral clustering of 1/2(|C|+|C^T|); `dscnet` = "
              f"DSC-Net's post_proC (rho, d, alpha = {dd['rho']}, {dd['d']}, {dd['alpha']}); "
              "`features` = the reference rows on the prepared features; `l2norm` = the classical "
              "baselines' affinity with each point's coefficient vector L2-normalised first "
              "(ChongYou/subspace-clustering's code; baselines.affinity), beside their `none`. K2 loss curves per term: "
              "reports/figures/loss_curves.png, `dvc plots show reports/plots/k2_terms.csv`.", ""]
    runs = []
    for ds, methods in all_methods(p).items():
        m = {k: metrics[ds][k] for k in methods if k in metrics[ds]}
        runs += [f"### {ds}", "", results_table(ds, m), ""]
    for ds, run in paper_runs.items():
        runs += [f"### {ds} (paper scale: `{run_commands(run)}`)", "",
                 results_table(ds, metrics[ds]), ""]
    parts += runs + [footnotes(*runs, details=notes), ""]
    sscn_sets = p.get("sscn", {}).get("datasets") or {}
    if sscn_sets:
        reports = {r.stem: read_json(r) for r in sorted((ROOT / "reports" / "sscn").glob("*.json"))}
        parts += ["## SSCN (Busch et al. 2020), Table 1: transductive and inductive", "",
                  "SSCN trains on the first set and clusters it from Q = H H^T (post-processing "
                  f"`{pl}`) and with its rotation classifier "
                  "(`classifier`); SSCN-OoS clusters the second, unseen set with the classifier "
                  "alone. DSC-Net: the same autoencoder, a full n x n C. Paper numbers are MNIST's "
                  "(10 runs; memory there is GPU memory, here the stage's CPU peak RSS, every "
                  "seed and both post-processings included; wall time of the whole stage). "
                  "`make bench-sscn` times the phases of one run.", ""]
        tabs = [sscn_table(metrics, reports, train, oos, pl) for train, oos in sscn_sets.items()]
        for (train, oos), tab in zip(sscn_sets.items(), tabs):
            parts += [f"### {train} -> {oos}", "", tab, ""]
        parts += [footnotes(*tabs, details=notes), ""]
    ext = p["suite"].get("external", [])
    if ext:
        cells = [f"{ds}-{init}" for ds in ext for init in p["suite"]["inits"]]
        metas = {c: read_json(ROOT / "reports" / "meta" / f"{c}.json") for c in cells}
        teachers = {c: read_json(ROOT / "reports" / "teacher" / f"{c.rsplit('-', 1)[0]}.json")
                    for c in cells}
        tab = external_table(teachers, metas)
        parts += ["## External knowledge: teachers and meta-learners", "",
                  "Validation on held-out episodes of the *external* data: each episode is "
                  "adapted to (Algorithm 1's inner loop), encoded, self-expressed (ISTA on "
                  "eq. 6's C-terms) and clustered; ACC/NMI against the external labels. The "
                  "meta-learned initialisation is the one with the best held-out ACC; 'final' "
                  "is the last iteration's. `-task`: eq. 6 with eta = 0 (Table 3's task-level "
                  "row); `-task_model`: with eta.", "", tab, "", footnotes(tab), ""]
    health = {h.stem: read_json(h) for h in sorted((ROOT / "reports" / "health").glob("*.json"))}
    if any(r.get("health") for r in health.values()):
        parts += ["## Pre-training health (Algorithm 2's first loop, label-free)", "",
                  "Healthy: reconstruction error <= 0.5 of the mean-image baseline's, effective "
                  "rank of Z >= 2, <= 90 % dead code units (deepsc/health.py). A collapsed "
                  "random initialisation is restarted with a fresh one (ae.<kind>.restarts); "
                  "'attempts' counts them.", "", health_table(health), ""]
    timings, apart = split_timings(
        [read_json(t) for t in sorted((ROOT / "reports" / "timings").glob("*.json"))],
        p["tune"]["datasets"])
    parts += ["## Run time of the last `dvc repro` of each stage (this machine)", "",
              timings_table(timings), ""]
    if apart:
        parts += ["Not in this suite and not counted above (kept from an earlier run of a stage "
                  "that `tune.datasets` no longer lists): " + ", ".join(
                      f"{r['stage']} {r['wall_s']:.0f} s" for r in apart) + ".", ""]
    for ds, run in paper_runs.items():  # the kept paper-scale runs, stage by stage
        kept_t = [read_json(t) for t in
                  sorted((ROOT / "reports" / "paper_scale" / ds / "timings").glob("*.json"))]
        parts += [f"### Paper scale, {ds}: `{run_commands(run)}` (the stages of "
                  f"{ds}; evaluate, tables and the other datasets' data stages not counted)", "",
                  timings_table(kept_t), ""]
    text = "\n".join(parts)
    while "\n\n\n" in text:  # an empty footnote block leaves a blank line too many
        text = text.replace("\n\n\n", "\n\n")
    with atomic_path(ROOT / "reports" / "results.md", ".md") as tmp:
        tmp.write_text(text)


if __name__ == "__main__":
    main()
