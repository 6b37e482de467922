"""The papers' numbers and the Markdown tables that put ours beside them.

A cell without a number says why in a few words (`not run: no data`, `not run: not in the
suite`, ...) and carries a footnote marker; the footnote, printed once under each table that
uses it, says what to do. A missing dataset's full story (what it needs, where it was looked
for, how to provide it) is printed once per dataset by `missing_data_section`, not in cells.
The figures are in deepsc.plots.
"""
from __future__ import annotations

import posixpath
import re

# LRSC (AAAI 2021) Tables 1 and 2: (ACC, NMI, ARI). Keys: our dataset names (Table 1 is the
# 10,000-point column of Table 2 for the images, all of BBC, 10 groups of 20 Newsgroups).
PAPER_LRSC = {
    "bbc": {"dscn_l1": (0.855, 0.722, 0.694), "dscn_l2": (0.879, 0.727, 0.725),
            "lrsc_l1": (0.928, 0.802, 0.834), "lrsc_l2": (0.929, 0.804, 0.836)},
    "fmnist1k": {"dscn_l1": (0.536, 0.594, 0.406), "dscn_l2": (0.536, 0.594, 0.406),
                 "lrsc_l1": (0.588, 0.645, 0.458), "lrsc_l2": (0.607, 0.627, 0.439)},
    "fmnist5k": {"dscn_l1": (0.563, 0.558, 0.372), "dscn_l2": (0.563, 0.558, 0.372),
                 "lrsc_l1": (0.631, 0.674, 0.508), "lrsc_l2": (0.636, 0.682, 0.516)},
    "fmnist10k": {"dscn_l1": (0.608, 0.640, 0.470), "dscn_l2": (0.585, 0.626, 0.447),
                  "lrsc_l1": (0.652, 0.672, 0.529), "lrsc_l2": (0.651, 0.672, 0.527)},
    "news20": {"dscn_l1": (0.348, 0.275, 0.122), "dscn_l2": (0.352, 0.283, 0.122),
               "lrsc_l1": (0.369, 0.287, 0.105), "lrsc_l2": (0.406, 0.315, 0.161)},
    "notmnist1k": {"dscn_l1": (0.488, 0.440, 0.318), "dscn_l2": (0.489, 0.439, 0.316),
                   "lrsc_l1": (0.574, 0.509, 0.427), "lrsc_l2": (0.578, 0.512, 0.430)},
    "notmnist5k": {"dscn_l1": (0.521, 0.488, 0.407), "dscn_l2": (0.520, 0.487, 0.406),
                   "lrsc_l1": (0.612, 0.542, 0.465), "lrsc_l2": (0.615, 0.544, 0.468)},
    "notmnist10k": {"dscn_l1": (0.517, 0.501, 0.413), "dscn_l2": (0.517, 0.501, 0.412),
                    "lrsc_l1": (0.587, 0.517, 0.439), "lrsc_l2": (0.608, 0.523, 0.467)},
}
# The classical baselines of LRSC's Tables 1 and 2 (SSC, EnSC, SSC-OMP, LRR): (ACC, NMI, ARI).
PAPER_BASELINES = {
    "bbc": {"ssc": (0.410, 0.201, 0.144), "ensc": (0.479, 0.387, 0.314),
            "ssc_omp": (0.307, 0.108, 0.064), "lrr": (0.524, 0.451, 0.209)},
    "news20": {"ssc": (0.235, 0.138, 0.064), "ensc": (0.229, 0.127, 0.067),
               "ssc_omp": (0.210, 0.093, 0.064), "lrr": (0.186, 0.139, 0.024)},
    "fmnist1k": {"ssc": (0.474, 0.484, 0.327), "ensc": (0.566, 0.510, 0.366),
                 "ssc_omp": (0.343, 0.301, 0.148), "lrr": (0.561, 0.619, 0.417)},
    "fmnist5k": {"ssc": (0.522, 0.503, 0.371), "ensc": (0.526, 0.540, 0.387),
                 "ssc_omp": (0.434, 0.358, 0.223), "lrr": (0.551, 0.625, 0.415)},
    "fmnist10k": {"ssc": (0.528, 0.524, 0.386), "ensc": (0.519, 0.559, 0.392),
                  "ssc_omp": (0.423, 0.508, 0.302), "lrr": (0.519, 0.625, 0.399)},
    "notmnist1k": {"ssc": (0.429, 0.332, 0.184), "ensc": (0.481, 0.372, 0.246),
                   "ssc_omp": (0.424, 0.351, 0.226), "lrr": (0.454, 0.451, 0.158)},
    "notmnist5k": {"ssc": (0.412, 0.350, 0.180), "ensc": (0.431, 0.369, 0.201),
                   "ssc_omp": (0.385, 0.368, 0.204), "lrr": (0.306, 0.315, 0.097)},
    "notmnist10k": {"ssc": (0.240, 0.224, 0.023), "ensc": (0.267, 0.226, 0.026),
                    "ssc_omp": (0.277, 0.223, 0.075), "lrr": (0.282, 0.335, 0.074)},
}
for _ds, _rows in PAPER_BASELINES.items():
    PAPER_LRSC[_ds].update(_rows)
# SSCN (Busch et al. 2020) Table 1, MNIST, 10 runs: (ACC, NMI, ARI), #parameters, GPU memory (GB).
PAPER_SSCN = {"sscn": ((0.6798, 0.6948, 0.5853), 66_291, 0.19),
              "sscn_oos": ((0.6739, 0.6716, 0.5710), 66_291, 0.19),
              "dscnet_sscn_ae": ((0.6354, 0.7234, 0.5742), 100_014_991, 2.71)}
# Table 3, the ablation with LRSC-L2 (notMNIST: the 5,000-point setting, its numbers match
# Table 2's 5,000 column): base = DSC-Net, + task level, + task and model level, all three.
PAPER_ABLATION = {
    "bbc": {"dscn_l2": (0.879, 0.727, 0.725), "lrsc_l2_task": (0.918, 0.784, 0.812),
            "lrsc_l2_task_model": (0.927, 0.792, 0.830), "lrsc_l2": (0.929, 0.804, 0.836)},
    "notmnist5k": {"dscn_l2": (0.520, 0.487, 0.406), "lrsc_l2_task": (0.552, 0.510, 0.393),
                   "lrsc_l2_task_model": (0.597, 0.522, 0.440), "lrsc_l2": (0.615, 0.544, 0.468)},
}
ABLATION_ROWS = {"dscn_l2": ("", "", ""), "lrsc_l2_task": ("✓", "", ""),
                 "lrsc_l2_task_model": ("✓", "✓", ""), "lrsc_l2": ("✓", "✓", "✓")}
TABLE1_DATASETS = ["fmnist10k", "notmnist10k", "bbc", "news20"]
TABLE2_DATASETS = {"Fashion-MNIST": ["fmnist1k", "fmnist5k", "fmnist10k"],
                   "notMNIST": ["notmnist1k", "notmnist5k", "notmnist10k"]}
PAPER_METHODS = ["dscn_l1", "dscn_l2", "lrsc_l1", "lrsc_l2"]
BASELINE_METHODS = ["ssc", "ensc", "ssc_omp", "lrr"]

METHOD_NAMES = {"dscn_l1": "DSCN-L1", "dscn_l2": "DSCN-L2", "lrsc_l1": "LRSC-L1",
                "lrsc_l2": "LRSC-L2", "lrsc_l2_task": "LRSC-L2, task level only",
                "lrsc_l2_task_model": "LRSC-L2, task + model level",
                "lrsc_l2_task_model_rayleigh": "LRSC-L2, task + model level, scale-invariant eq. 4",
                "kmeans": "k-means (features)",
                "spectral_knn": "spectral, k-NN affinity (features)", "ssc": "SSC", "ensc": "EnSC",
                "ssc_omp": "SSC-OMP", "lrr": "LRR", "sscn": "SSCN",
                "sscn_oos": "SSCN-OoS (inductive)", "dscnet_sscn_ae": "DSC-Net (SSCN autoencoder)"}


# Rows that are not deep networks: the reference rows on the prepared features and the
# classical baselines (the summary's "best reference row").
REFERENCE_METHODS = ["kmeans", "spectral_knn"] + BASELINE_METHODS
ABLATION_PAPER_DATASETS = ["bbc", "notmnist5k"]
MAX_CELL = 60  # characters: a cell longer than this is a report nobody reads

# Why a cell has no number: (footnote marker, footnote). The cell reads "not run: <label>".
NOT_RUN = {
    "no data": ("¹", "no data: the dataset's raw files are not on this machine. 'Missing data' at "
                     "the top of reports/results.md (and reports/data.md) says, once per dataset, "
                     "what was tried and how to provide it."),
    "not in the suite": ("²", "not in the suite: params.yaml does not run this cell. Add the dataset "
                              "to suite.datasets (DSC-Net and reference rows), suite.external "
                              "(LRSC rows) or baselines.datasets (SSC, EnSC, SSC-OMP, LRR), e.g. "
                              "`dvc exp run -S 'suite.datasets=[digits,fmnist10k]'`."),
    "no external data": ("³", "no external data: LRSC learns from external data (a text target's "
                              "meta corpus, `data.datasets.<name>.meta`; for images the first "
                              "prepared dataset of `data.external_images`), and this target has "
                              "none here."),
    "unavailable": ("⁴", "unavailable: an upstream stage could not produce this cell."),
}


def not_run_label(status: str | None) -> str:
    """The few words (a key of NOT_RUN) that say why a result is missing, from the status the
    stages wrote (None: no result at all, i.e. the suite does not run it)."""
    if status is None:
        return "not in the suite"
    s = status.lower()
    if s.startswith("data unavailable"):  # the target's own data (evaluate's status)
        return "no data"
    if "not in the suite" in s or "not in baselines.methods" in s:
        return "not in the suite"
    if any(k in s for k in ("external", "meta corpus", "teacher@", "meta@")):
        return "no external data"  # checked before the sources: it quotes theirs
    if "no source provides" in s:
        return "no data"
    return "unavailable"


def not_run(status: str | None) -> str:
    label = not_run_label(status)
    return f"not run: {label}{NOT_RUN[label][0]}"


def footnotes(*texts: str, details: dict[str, list[str]] | None = None) -> str:
    """The footnotes whose markers occur in ``texts`` (one paragraph each, in NOT_RUN's order),
    with optional detail lines per label (e.g. which external data a target lacks)."""
    out = []
    for label, (marker, note) in NOT_RUN.items():
        if any(marker in t for t in texts):
            extra = (details or {}).get(label) or []
            out.append(f"{marker} {note}" + ("" if not extra else " " + "; ".join(extra) + "."))
    return "\n\n".join(out)


def _short(text: str, n: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _cell(m: dict, key: str) -> str:
    return f"{m[key]:.3f} ± {m[key + '_std']:.3f}"


def _status(m: dict | None) -> str | None:
    return None if m is None else m.get("status", "ok")


def _results(m: dict, pp: str) -> dict:
    return m["results"].get(pp) or next(iter(m["results"].values()))


# --- missing data: once per dataset, in reports/data.md and at the top of reports/results.md ---

_UNAVAILABLE = re.compile(
    r"dataset '(?P<source>[^']+)': no source provides (?P<needs>.+?)\. Tried: (?P<tried>.*?)\. "
    r"Fix: (?P<fix>.*?)(?=; dataset '[^']+': no source provides |\s*$)", re.S)


def parse_unavailable(reason: str) -> list[dict]:
    """The raw sources a dataset's 'unavailable' reason names (deepsc.data.sources'
    DataUnavailable text, one per missing source): source, needs, tried, fix."""
    return [m.groupdict() for m in _UNAVAILABLE.finditer(reason or "")]


def summarize_tried(tried: str) -> str:
    """'cache /a/x; cache /a/y; mirror /m/d/x; download URL: error' -> 'cache /a (2 paths);
    mirror /m/d/x; download URL: error': where a file was looked for, one entry per kind."""
    if not tried.strip() or tried.strip() == "nothing":
        return "nothing (no cache, no mirror, downloads off)"
    by_kind: dict[str, list[str]] = {}
    for item in tried.split("; "):
        kind, _, rest = item.strip().partition(" ")
        by_kind.setdefault(kind, []).append(rest)
    parts = []
    for kind, rests in by_kind.items():
        if kind == "download":
            parts += [f"download {_short(r, 160)}" for r in rests]
            continue
        try:
            where = posixpath.commonpath(rests) if len(rests) > 1 else rests[0]
        except ValueError:
            where = rests[0]
        parts.append(f"{kind} {where}" + (f" ({len(rests)} paths)" if len(rests) > 1 else ""))
    return "; ".join(parts)


def _fix(chunks: list[dict], download: bool | None) -> str:
    fix = chunks[0]["fix"].strip()
    dirs = [m.group(1) for c in chunks if (m := re.search(r"copy them into (.+?), or ", c["fix"]))]
    if len(chunks) > 1 and len(dirs) == len(chunks):
        fix = fix.replace(dirs[0], " and ".join(dict.fromkeys(dirs)), 1)
    if download is False and "connect to the network" in fix:
        fix = fix.replace("connect to the network",
                          "connect to the network and set data.download: true in params.yaml")
    return fix


def missing_data_lines(infos: dict[str, dict], download: bool | None = None) -> list[str]:
    """One Markdown bullet per unavailable dataset of ``infos`` (prepare's info.json by name):
    the files it needs, the places tried, the fix. Datasets that lack the very same raw
    sources share one bullet, so each is named exactly once."""
    groups: dict[tuple, dict] = {}
    for name, info in infos.items():
        if info.get("status") == "ok":
            continue
        reason = str(info.get("reason") or info.get("status") or "unknown")
        chunks = parse_unavailable(reason)
        key = tuple((c["source"], c["needs"]) for c in chunks) or ("unparsed", reason)
        groups.setdefault(key, {"names": [], "chunks": chunks, "reason": reason})["names"].append(name)
    lines = []
    for g in groups.values():
        names = ", ".join(g["names"])
        chunks = g["chunks"]
        if not chunks:
            lines.append(f"- **{names}**: {_short(g['reason'], 400)}")
            continue
        needs = " and ".join(f"{c['needs']} (source `{c['source']}`)" for c in chunks)
        tried = "; ".join((f"{c['source']}: " if len(chunks) > 1 else "") + summarize_tried(c["tried"])
                          for c in chunks)
        lines.append(f"- **{names}**: needs {needs}. Tried: {tried}. Fix: {_fix(chunks, download)}")
    return lines


def missing_data_section(infos: dict[str, dict], download: bool | None = None,
                         heading: str = "## Missing data") -> str:
    """The 'Missing data' section ('' when every dataset is prepared)."""
    lines = missing_data_lines(infos, download)
    if not lines:
        return ""
    return "\n".join([heading, "",
                      "Not prepared on this machine, so every cell that needs one of them reads "
                      f"'not run: no data{NOT_RUN['no data'][0]}'. One line per dataset (datasets "
                      "that lack the same raw files share a line): what it needs, where it was "
                      "looked for, how to provide it. docs/data.md describes every source.", "",
                      *lines])


# --- tables ---

def _best(metrics: dict[str, dict], methods, protocol: dict[str, str]) -> str:
    """'NAME: acc ± std' of the method with the best mean ACC (post-processing: protocol's, or
    'none', the paper's), or why there is none."""
    cands, statuses = [], []
    for method in methods:
        m = metrics.get(method)
        if m is None:
            continue
        if _status(m) != "ok":
            statuses.append(m["status"])
            continue
        r = _results(m, protocol.get(method, "none"))
        cands.append((r["acc"], method, r))
    if cands:
        _, method, r = max(cands, key=lambda c: c[0])
        return f"{METHOD_NAMES.get(method, method)}: {_cell(r, 'acc')}"
    return not_run(statuses[0]) if statuses else "—"


def summary_table(metrics: dict[str, dict[str, dict]], datasets,
                  protocol: dict[str, str] | None = None) -> str:
    """Per dataset of the suite: our best deep row, our best reference row (k-means, spectral,
    the classical baselines) and the paper's LRSC-L2, ACC side by side."""
    protocol = protocol or {}
    lines = ["| dataset | best deep row, ACC | best reference row, ACC | paper LRSC-L2 ACC |",
             "|---|---|---|---|"]
    for ds in datasets:
        ms = metrics.get(ds, {})
        deep = _best(ms, [k for k in ms if k not in REFERENCE_METHODS], protocol)
        ref = _best(ms, REFERENCE_METHODS, protocol)
        paper = PAPER_LRSC.get(ds, {}).get("lrsc_l2")
        lines.append(f"| {ds} | {deep} | {ref} | {f'{paper[0]:.3f}' if paper else '—'} |")
    return "\n".join(lines)


def results_table(dataset: str, metrics: dict[str, dict]) -> str:
    """One Markdown table for a dataset: our mean ± std per (method, post-processing), paper beside."""
    paper = PAPER_LRSC.get(dataset, {})
    lines = ["| method | post-processing | ACC | NMI | ARI | paper ACC / NMI / ARI |",
             "|---|---|---|---|---|---|"]
    for method, m in metrics.items():
        name = METHOD_NAMES.get(method, method)
        ref = paper.get(method)
        ref_s = " / ".join(f"{v:.3f}" for v in ref) if ref else "—"
        if _status(m) != "ok":
            lines.append(f"| {name} | — | {not_run(_status(m))} | | | {ref_s} |")
            continue
        for pp, s in m["results"].items():
            lines.append(f"| {name} | {pp} | {_cell(s, 'acc')} | {_cell(s, 'nmi')} | "
                         f"{_cell(s, 'ari')} | {ref_s} |")
    return "\n".join(lines)


def timings_table(timings: list[dict]) -> str:
    lines = ["| stage | wall time (s) | peak RSS (MiB) |", "|---|---|---|"]
    for t in sorted(timings, key=lambda t: t["stage"]):
        lines.append(f"| {t['stage']} | {t['wall_s']:.1f} | {t['peak_rss_mib']:.0f} |")
    total = sum(t["wall_s"] for t in timings)
    lines.append(f"| **total** | {total:.1f} | {max((t['peak_rss_mib'] for t in timings), default=0):.0f} |")
    return "\n".join(lines)


def _counts(counts) -> str:
    """Counts per class, in full when short, else 'K classes, min-max each'."""
    vals = list(counts)
    full = ", ".join(map(str, vals))
    if len(full) <= MAX_CELL or not vals:
        return full
    return f"{len(vals)} classes, {min(vals)}-{max(vals)} each"


def data_table(infos: dict[str, dict]) -> str:
    """One row per prepared dataset (status, size, counts per class), then a detail line per
    prepared dataset (raw counts by class name, feature statistics). Why a dataset is missing
    is said once, by missing_data_section."""
    lines = ["| dataset | source | status | points | shape | counts per class (prepared) |",
             "|---|---|---|---|---|---|"]
    details = []
    for name, info in infos.items():
        if info.get("status") != "ok":
            lines.append(f"| {name} | {info.get('source', '')} | not prepared: "
                         f"{not_run_label(str(info.get('reason') or 'data unavailable'))} | | | |")
            continue
        lines.append(f"| {name} | {info['source']} | ok | {info['n']} | {tuple(info['shape'])} | "
                     f"{_counts(info['counts_per_class'])} |")
        raw = info.get("raw_counts_per_class", {})
        raw_s = (", ".join(f"{k}: {v}" for k, v in raw.items()) if len(raw) <= 20
                 else f"{len(raw)} classes, {min(raw.values())}-{max(raw.values())} each")
        notes = [f"{k}: {info[k]}" for k in ("vocabulary", "explained_variance", "n_meta", "fit_on",
                                               "target_groups", "skipped_unreadable", "split",
                                               "resize") if k in info]
        details.append(f"- **{name}**: raw counts per class {raw_s or '—'}"
                       + (f"; {'; '.join(map(str, notes))}" if notes else ""))
    return "\n".join(lines) + ("\n\n" + "\n".join(details) if details else "")


def external_table(teachers: dict[str, dict], metas: dict[str, dict]) -> str:
    """Per target: the external data, the teachers' accuracy on the fold they did not see, and
    the held-out-episode clustering of the meta-learned vs a randomly initialised autoencoder
    (external data only: the target's labels play no part)."""
    lines = ["| target | external data | teacher held-out ACC (M1 / M2) | validation episodes | "
             "random init ACC / NMI | meta-learned ACC / NMI (iteration) | final ACC / NMI |",
             "|---|---|---|---|---|---|---|"]
    for ds, meta in metas.items():
        teacher = teachers.get(ds, {})
        if meta.get("status") != "ok" or teacher.get("status") != "ok":
            reason = meta.get("reason") or teacher.get("reason") or "not run"
            lines.append(f"| {ds} | {not_run(reason)} | | | | | |")
            continue
        acc = teacher["heldout_acc"]
        v, r, s, f = meta["validation"], meta["random_init"], meta["meta_selected"], meta["meta_final"]
        lines.append(
            f"| {ds} | {meta['external']} ({teacher['n_external']} points, {teacher['n_classes']} "
            f"classes) | {acc['m1']:.3f} / {acc['m2']:.3f} | {v['episodes']} x {meta['episodes']['k']} "
            f"classes, held-out {v['held_out']} | {r['acc']:.3f} / {r['nmi']:.3f} | "
            f"{s['acc']:.3f} / {s['nmi']:.3f} ({s['iter']}) | {f['acc']:.3f} / {f['nmi']:.3f} |")
    return "\n".join(lines)


def _ours_vs_paper(m: dict | None, paper, pp: str = "none") -> list[str]:
    """Three cells (ACC, NMI, ARI): 'ours mean ± std (paper)', or why there is no number."""
    ref = [f" ({v:.3f})" for v in paper] if paper else ["", "", ""]
    if _status(m) != "ok":
        return [f"{not_run(_status(m))}{r}" for r in ref]
    res = _results(m, pp)
    return [f"{_cell(res, k)}{r}" for k, r in zip(("acc", "nmi", "ari"), ref)]


def table1(metrics: dict[str, dict[str, dict]], datasets=TABLE1_DATASETS,
           methods=BASELINE_METHODS + PAPER_METHODS + ["kmeans", "spectral_knn"]) -> str:
    """The paper's Table 1: datasets x methods, ACC / NMI / ARI, 'ours (paper)' per cell.
    ``metrics[dataset][method]`` is the evaluate stage's JSON (or a stub {'status': why});
    post-processing 'none' (spectral clustering of 1/2(|C|+|C^T|), the paper's protocol)."""
    lines = ["| dataset | method | ACC | NMI | ARI |", "|---|---|---|---|---|"]
    for ds in datasets:
        for method in methods:
            cells = _ours_vs_paper(metrics.get(ds, {}).get(method),
                                   PAPER_LRSC.get(ds, {}).get(method))
            lines.append(f"| {ds} | {METHOD_NAMES.get(method, method)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def table2(metrics: dict[str, dict[str, dict]], methods=BASELINE_METHODS + PAPER_METHODS) -> str:
    """The paper's Table 2: Fashion-MNIST and notMNIST at 1,000 / 5,000 / 10,000 points,
    ACC / NMI / ARI 'ours (paper)', one block of rows per size."""
    return "\n\n".join(f"**{title}**\n\n" + table1(metrics, sizes, methods)
                       for title, sizes in TABLE2_DATASETS.items())


def _per_seed(m: dict | None, key: str = "acc", pp: str = "none") -> str:
    if _status(m) != "ok":
        return ""
    vals = _results(m, pp).get(f"{key}_per_seed") or []
    s = ", ".join(f"{v:.3f}" for v in vals)
    return s if len(s) <= MAX_CELL else f"{len(vals)} seeds, {min(vals):.3f}-{max(vals):.3f}"


def table3(metrics: dict[str, dict[str, dict]], datasets) -> str:
    """The paper's Table 3, the ablation of LRSC-L2: which levels of knowledge each row
    switches on, ACC / NMI / ARI 'ours (paper)', and our ACC per seed."""
    lines = ["| dataset | task level | model level | self-supervision | ACC | NMI | ARI | "
             "ACC per seed |", "|---|---|---|---|---|---|---|---|"]
    for ds in datasets:
        for method, flags in ABLATION_ROWS.items():
            m = metrics.get(ds, {}).get(method)
            cells = _ours_vs_paper(m, PAPER_ABLATION.get(ds, {}).get(method))
            lines.append(f"| {ds} | " + " | ".join(flags) + " | " + " | ".join(cells)
                         + f" | {_per_seed(m)} |")
    return "\n".join(lines)


def ablation_datasets(external) -> list[str]:
    """Table 3's datasets: the paper's (BBC, notMNIST-5000), then the other LRSC targets."""
    return ABLATION_PAPER_DATASETS + [d for d in external if d not in ABLATION_PAPER_DATASETS]


def sscn_table(metrics: dict[str, dict[str, dict]], reports: dict[str, dict], train: str,
               oos: str, pp: str = "dscnet") -> str:
    """SSCN's Table 1 for one (training, out-of-sample) pair: ACC / NMI / ARI 'ours (paper)',
    trainable parameters, peak memory (CPU RSS of the stage) and wall time. The paper's numbers
    are MNIST's; its memory is GPU memory, ours the CPU peak RSS of the whole stage."""
    lines = ["| method | data | post-processing | ACC | NMI | ARI | #parameters (paper) | "
             "peak RSS MiB (paper GPU GB) | wall s |", "|---|---|---|---|---|---|---|---|---|"]
    mnist = train == "mnist10k"
    rows = [("dscnet_sscn_ae", train, pp, "sscn_dscnet"), ("sscn", train, pp, "sscn"),
            ("sscn", train, "classifier", "sscn"), ("sscn_oos", oos, "classifier", "sscn")]
    for method, ds, post, stage in rows:
        paper = PAPER_SSCN[method] if mnist and (method, post) != ("sscn", "classifier") else None
        m = metrics.get(ds, {}).get(method)
        if m is not None and m.get("status") == "ok" and post not in m["results"]:
            m = {"status": f"no '{post}' labels"}
        cells = _ours_vs_paper(m, paper[0] if paper else None, post)
        rep = reports.get(f"{stage}@{train}", {})
        n_par = f"{rep['parameters']:,}" if "parameters" in rep else "—"
        n_par += f" ({paper[1]:,})" if paper else ""
        mem = f"{rep['peak_rss_mib']:.0f}" if "peak_rss_mib" in rep else "—"
        mem += f" ({paper[2]})" if paper else ""
        wall = f"{rep['wall_s']:.0f}" if "wall_s" in rep else "—"
        lines.append(f"| {METHOD_NAMES[method]} | {ds} | {post} | " + " | ".join(cells)
                     + f" | {n_par} | {mem} | {wall} |")
    return "\n".join(lines)


def health_table(reports: dict[str, dict]) -> str:
    """Per pre-training stage and seed: the label-free health verdict of Algorithm 2's first
    loop (deepsc.health) and how many initialisations it took."""
    rows = ["| stage | seed | healthy | rel. reconstruction error | effective rank of Z | attempts |",
            "|---|---|---|---|---|---|"]
    for stage, rep in sorted(reports.items()):
        for seed, h in sorted(rep.get("health", {}).items(), key=lambda kv: int(kv[0])):
            rows.append(f"| {stage} | {seed} | {'yes' if h.get('healthy') else '**COLLAPSED**'} "
                        f"| {h.get('rel_rec', float('nan')):.3f} | {h.get('eff_rank', float('nan')):.1f} "
                        f"| {h.get('attempts', 1)} |")
    return "\n".join(rows)


def table_cells(markdown: str) -> list[str]:
    """Every cell of every Markdown table in ``markdown`` (header rows included), for checks
    such as 'no cell is longer than MAX_CELL characters'."""
    cells = []
    for line in markdown.splitlines():
        line = line.strip()
        if line.startswith("|") and line.endswith("|") and not set(line) <= set("|-: "):
            cells += [c.strip() for c in line[1:-1].split("|")]
    return cells


def brief(status: str, n: int = 140) -> str:
    """A status without the places tried (those are in 'Missing data'): up to the first
    embedded "dataset '...': no source provides" or "Tried:", at most ``n`` characters."""
    s = str(status)
    for cut in ("dataset '", " Tried:"):
        if cut in s:
            s = s[: s.index(cut)]
    return _short(s.rstrip(" :;("), n)


def footnote_details(metrics: dict[str, dict[str, dict]]) -> dict[str, list[str]]:
    """Per footnote label that needs it ('no external data', 'unavailable'): one short line per
    (dataset, reason), e.g. 'digits: none of data.external_images (...) is prepared'."""
    out: dict[str, list[str]] = {}
    for ds, methods in metrics.items():
        for m in methods.values():
            st = _status(m)
            if st in (None, "ok"):
                continue
            label = not_run_label(st)
            if label in ("no external data", "unavailable"):
                why = brief(st)
                for prefix in ("unavailable: ", "no external data: "):
                    why = why[len(prefix):] if why.startswith(prefix) else why
                line = f"{ds}: {why}"
                if line not in out.setdefault(label, []):
                    out[label].append(line)
    return out
