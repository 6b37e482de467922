"""reports/results.md and reports/data.md as a person reads them (deepsc.report), and the
figures of deepsc.plots: short 'not run' cells with footnotes, each missing dataset named once
with its fix, the summary, Table 3's per-seed column, the K2 curves of any columns."""
import re

import pytest

from deepsc.metrics import summarize
from deepsc.plots import ablation_figure, curve_terms, k2_long_rows, loss_curves_figure, mean_curve
from deepsc.report import (ABLATION_ROWS, MAX_CELL, NOT_RUN, PAPER_ABLATION, brief,
                           data_table, footnote_details, footnotes, missing_data_lines,
                           missing_data_section, not_run, not_run_label, parse_unavailable,
                           results_table, summary_table, table1, table2, table3, table_cells)


def unavailable(source, needs, cache="/c", mirror=None, url=None):
    """deepsc.data.sources.DataUnavailable's text for one source."""
    tried = [f"cache {cache}/{source}/{needs}", f"cache {cache}/{source}/{needs}.d"]
    if mirror:
        tried += [f"mirror {mirror}/{source}/{needs}", f"mirror {mirror}/{needs}"]
    if url:
        tried.append(f"download {url}: <urlopen error [Errno -2] Name or service not known>")
    return (f"dataset {source!r}: no source provides {needs}. Tried: {'; '.join(tried)}. Fix: put "
            f"the files in a folder and set LRSC_DATA_MIRROR to it (e.g. LRSC_DATA_MIRROR=../shared/"
            f"data), copy them into {cache}/{source}, or connect to the network.")


def info_missing(*reasons):
    return {"status": "unavailable", "reason": "; ".join(reasons), "source": "x", "kind": "image",
            "n_clusters": 10}


def ok_metrics(accs, pps=("none", "dscnet")):
    per = [{"acc": a, "nmi": a / 2, "ari": a / 3} for a in accs]
    return {"status": "ok", "n": 100, "seeds": list(range(len(accs))),
            "results": {pp: summarize(per) for pp in pps}}


def test_not_run_labels_are_a_few_words():
    long_missing = "data unavailable (" + unavailable("bbc", "bbc.zip", url="http://x") + ")"
    assert not_run_label(None) == "not in the suite"
    assert not_run_label(long_missing) == "no data"
    assert not_run_label("unavailable: " + unavailable("mnist", "t10k.gz")) == "no data"
    assert not_run_label("unavailable: meta@bbc-task: bbc has no meta corpus: set "
                         "data.datasets.bbc.meta") == "no external data"
    assert not_run_label("unavailable: no external image data prepared (data.external_images): "
                         "mnist_ext: ...") == "no external data"
    assert not_run_label("unavailable: teacher@fmnist1k: no external image data prepared "
                         "(data.external_images): mnist_ext: " + unavailable("mnist", "t.gz")) \
        == "no external data"  # the target is there, its external data is not
    assert not_run_label("not run: not in baselines.methods") == "not in the suite"
    assert not_run_label("no 'dscnet' labels") == "unavailable"
    assert not_run(long_missing) == "not run: no data¹"
    assert brief("unavailable: no external image data prepared (data.external_images): mnist_ext: "
                 + unavailable("mnist", "t.gz")) == \
        "unavailable: no external image data prepared (data.external_images): mnist_ext"


def test_each_missing_dataset_is_named_once_with_its_fix():
    bbc = unavailable("bbc", "bbc-fulltext.zip", mirror="/m", url="http://mlg/bbc.zip")
    news = unavailable("newsgroups20", "20news-bydate.tar.gz", mirror="/m")
    notm = unavailable("notmnist", "notMNIST_small.tar.gz", mirror="/m")
    infos = {"digits": {"status": "ok"}, "bbc": info_missing(bbc, news),
             "news20": info_missing(news), "notmnist1k": info_missing(notm),
             "notmnist5k": info_missing(notm), "odd": {"status": "unavailable", "reason": "weird"}}
    lines = missing_data_lines(infos, download=False)
    named = [n for line in lines for n in re.match(r"- \*\*(.+?)\*\*:", line).group(1).split(", ")]
    assert sorted(named) == sorted(n for n in infos if n != "digits")  # each exactly once
    by_name = {n: line for line in lines for n in re.match(r"- \*\*(.+?)\*\*:", line).group(1).split(", ")}
    assert by_name["notmnist1k"] is by_name["notmnist5k"]  # the same raw files: one line
    b = by_name["bbc"]
    assert "needs bbc-fulltext.zip (source `bbc`) and 20news-bydate.tar.gz (source `newsgroups20`)" in b
    assert "bbc: cache /c/bbc (2 paths); mirror /m (2 paths); download http://mlg/bbc.zip" in b
    assert "copy them into /c/bbc and /c/newsgroups20, or" in b
    assert "set data.download: true" in b and b.count("Fix:") == 1 and "LRSC_DATA_MIRROR" in b
    assert "set data.download" not in "\n".join(missing_data_lines(infos, download=True))
    assert by_name["odd"] == "- **odd**: weird"
    assert parse_unavailable(bbc + "; " + news)[1]["source"] == "newsgroups20"
    section = missing_data_section(infos)
    assert section.startswith("## Missing data") and missing_data_section({"d": {"status": "ok"}}) == ""


def test_summary_picks_the_best_deep_and_reference_rows():
    metrics = {"digits": {"dscn_l1": ok_metrics([0.6, 0.7]), "dscn_l2": ok_metrics([0.8, 0.8]),
                          "lrsc_l2": {"status": "no external data: not in suite.external"},
                          "kmeans": ok_metrics([0.5]), "ssc": ok_metrics([0.75, 0.75])},
               "bbc": {"dscn_l2": {"status": "data unavailable (...)"},
                       "kmeans": {"status": "data unavailable (...)"}},
               "mnist10k": {"sscn": ok_metrics([0.1, 0.3], ("none", "dscnet", "classifier"))}}
    metrics["mnist10k"]["sscn"]["results"]["dscnet"] = summarize([{"acc": 0.7, "nmi": 0, "ari": 0}])
    t = summary_table(metrics, ["digits", "bbc", "mnist10k"], protocol={"sscn": "dscnet"})
    assert "| digits | DSCN-L2: 0.800 ± 0.000 | SSC: 0.750 ± 0.000 | — |" in t
    assert "| bbc | not run: no data¹ | not run: no data¹ | 0.929 |" in t
    assert "| mnist10k | SSCN: 0.700 ± 0.000 | — | — |" in t


def full_metrics():
    """Results as the default suite writes them offline: digits has numbers, bbc and fmnist1k
    have no data, notmnist stubs (no data), LRSC stubs for digits (no external data)."""
    gone = {"status": "data unavailable (" + unavailable("bbc", "bbc.zip", url="http://x") + ")"}
    rows = list(ABLATION_ROWS) + ["dscn_l1", "lrsc_l1", "kmeans", "spectral_knn", "ssc", "ensc",
                                  "ssc_omp", "lrr"]
    m = {ds: {r: dict(gone) for r in rows} for ds in ("bbc", "fmnist1k", "notmnist5k", "notmnist10k")}
    m["digits"] = {r: ok_metrics([0.5, 0.6, 0.7]) for r in ("dscn_l1", "dscn_l2", "kmeans",
                                                            "spectral_knn", "ssc", "ensc",
                                                            "ssc_omp", "lrr")}
    for r in ("lrsc_l1", "lrsc_l2", "lrsc_l2_task", "lrsc_l2_task_model"):
        m["digits"][r] = {"status": "no external data: not in suite.external, and none of "
                                    "data.external_images (miniimagenet, mnist_ext) is prepared"}
    return m


def test_no_cell_is_long_and_footnotes_follow_the_markers():
    m = full_metrics()
    t1 = table1(m, ["fmnist10k", "notmnist10k", "bbc", "news20", "digits"])
    t2, t3 = table2(m), table3(m, ["bbc", "notmnist5k", "fmnist1k", "digits"])
    runs = results_table("bbc", m["bbc"]) + "\n" + results_table("digits", m["digits"])
    text = "\n\n".join([t1, t2, t3, runs])
    cells = table_cells(text)
    assert cells and max(map(len, cells)) <= MAX_CELL, max(cells, key=len)
    assert "| digits | LRSC-L2 | not run: no external data³ |" in t1
    assert "| bbc | DSCN-L2 | not run: no data¹ (0.879) |" in t1
    assert "| fmnist10k | LRSC-L2 | not run: not in the suite² (0.651) |" in t1
    assert "| digits | DSCN-L1 | 0.600 ± 0.082 |" in t1
    assert "Tried" not in text and "LRSC_DATA_MIRROR" not in text  # said once, elsewhere
    notes = footnotes(t1, details=footnote_details(m))
    assert notes.count("¹") == notes.count("²") == notes.count("³") == 1 and "⁴" not in notes
    assert "digits: not in suite.external, and none of data.external_images" in notes
    assert footnotes("no markers here") == ""
    for label, (marker, note) in NOT_RUN.items():
        assert note.startswith(label)


def test_table3_has_a_per_seed_column():
    m = {"bbc": {r: ok_metrics([0.9, 0.8, 0.7]) for r in ABLATION_ROWS}}
    t = table3(m, ["bbc", "notmnist5k"])
    assert t.splitlines()[0].endswith("| ACC per seed |")
    assert "| bbc | ✓ | ✓ | ✓ | 0.800 ± 0.082 (0.929) |" in t and t.count("| 0.900, 0.800, 0.700 |") == 4
    assert "| notmnist5k |  |  |  | not run: not in the suite² (0.520) |" in t
    m = {"bbc": {r: ok_metrics([0.5] * 12) for r in ABLATION_ROWS}}
    assert "| 12 seeds, 0.500-0.500 |" in table3(m, ["bbc"])  # long lists are summarised


def test_data_table_is_short_and_keeps_the_class_names():
    infos = {"bbc": {"status": "ok", "source": "bbc", "n": 2225, "shape": [256],
                     "counts_per_class": [510, 386, 417, 511, 401], "vocabulary": 80573,
                     "raw_counts_per_class": {"business": 510, "entertainment": 386}},
             "omni": {"status": "ok", "source": "o", "n": 4840, "shape": [1, 32, 32],
                      "counts_per_class": [20] * 242, "raw_counts_per_class": {str(i): 20 for i in range(242)}},
             "mnist10k": info_missing(unavailable("mnist", "t10k.gz", url="http://y"))}
    t = data_table(infos)
    assert "| bbc | bbc | ok | 2225 | (256,) | 510, 386, 417, 511, 401 |" in t
    assert "| omni | o | ok | 4840 | (1, 32, 32) | 242 classes, 20-20 each |" in t
    assert "| mnist10k | x | not prepared: no data | | | |" in t
    assert "- **bbc**: raw counts per class business: 510, entertainment: 386; vocabulary: 80573" in t
    assert max(map(len, table_cells(t))) <= MAX_CELL


def curve(seeds=(0, 1), extra=()):
    rows = []
    for s in seeds:
        for step in (1, 10, 20):
            rows.append({"seed": str(s), "step": str(step), "loss": str(100 / step + s),
                         "rec": str(50 / step), "distill": "", **{c: str(step * 0.1) for c in extra}})
    return rows


def test_curves_plot_whatever_columns_exist(tmp_path):
    rows = curve(extra=("z_rms",))
    assert curve_terms(rows) == ["loss", "rec", "z_rms"]  # empty 'distill' is not a term here
    steps, mean, lo, hi = mean_curve(rows, "loss")
    assert steps == [1, 10, 20] and mean[0] == pytest.approx(100.5) and (lo[0], hi[0]) == (100, 101)
    long = k2_long_rows({"digits-dscn_l2": rows, "bbc-dscn_l2": []})
    assert {r["term"] for r in long} == {"loss", "rec", "z_rms"} and len(long) == 9
    assert long[0] == {"curve": "digits-dscn_l2", "term": "loss", "step": 1, "value": 100.5}
    png = tmp_path / "curves.png"
    loss_curves_figure({"digits": {"dscn_l1": curve(), "dscn_l2": rows}, "bbc": {"dscn_l2": []}}, png)
    assert png.read_bytes()[:4] == b"\x89PNG"
    loss_curves_figure({"bbc": {"dscn_l2": []}}, tmp_path / "none.png")  # nothing trained yet
    assert (tmp_path / "none.png").read_bytes()[:4] == b"\x89PNG"


def test_ablation_figure(tmp_path):
    ours = {"bbc": {r: ok_metrics([0.9, 0.8]) for r in ABLATION_ROWS},
            "notmnist5k": {r: None for r in ABLATION_ROWS}}
    ablation_figure(ours, PAPER_ABLATION, {r: r for r in ABLATION_ROWS}, tmp_path / "a.png",
                    notes={"notmnist5k": "not run: no data"})
    assert (tmp_path / "a.png").read_bytes()[:4] == b"\x89PNG"


def test_health_table_marks_collapsed_seeds():
    from deepsc.report import health_table

    ok = {"rel_rec": 0.12, "eff_rank": 30.0, "healthy": True, "attempts": 1}
    bad = {"rel_rec": 1.4, "eff_rank": 0.0, "healthy": False, "attempts": 4}
    tab = health_table({"pretrain@x": {"health": {"1": bad, "0": ok}}})
    lines = tab.splitlines()
    assert lines[2] == "| pretrain@x | 0 | yes | 0.120 | 30.0 | 1 |"
    assert lines[3] == "| pretrain@x | 1 | **COLLAPSED** | 1.400 | 0.0 | 4 |"


@pytest.mark.parametrize("stage", ["tables", "evaluate", "data_report", "plots", "figures"])
def test_a_stage_without_arguments_answers_help_and_writes_nothing(stage, tmp_path):
    """`python stages/tables.py --help` used to run the stage (and rewrite reports/results.md)."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    watched = [root / "reports" / "results.md", root / "reports" / "data.md"]
    before = [p.stat().st_mtime_ns if p.exists() else None for p in watched]
    out = subprocess.run([sys.executable, str(root / "stages" / f"{stage}.py"), "--help"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert out.returncode == 0 and f"usage: {stage}.py" in out.stdout, out.stderr
    assert [p.stat().st_mtime_ns if p.exists() else None for p in watched] == before
