"""The papers' numbers and the Markdown tables that put ours beside them."""
from __future__ import annotations

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
                "lrsc_l2_task_model": "LRSC-L2, task + model level", "kmeans": "k-means (features)",
                "spectral_knn": "spectral, k-NN affinity (features)", "ssc": "SSC", "ensc": "EnSC",
                "ssc_omp": "SSC-OMP", "lrr": "LRR", "sscn": "SSCN",
                "sscn_oos": "SSCN-OoS (inductive)", "dscnet_sscn_ae": "DSC-Net (SSCN autoencoder)"}


def _cell(m: dict, key: str) -> str:
    return f"{m[key]:.3f} ± {m[key + '_std']:.3f}"


def results_table(dataset: str, metrics: dict[str, dict]) -> str:
    """One Markdown table for a dataset: our mean ± std per (method, post-processing), paper beside."""
    paper = PAPER_LRSC.get(dataset, {})
    lines = ["| method | post-processing | ACC | NMI | ARI | paper ACC / NMI / ARI |",
             "|---|---|---|---|---|---|"]
    for method, m in metrics.items():
        name = METHOD_NAMES.get(method, method)
        ref = paper.get(method)
        ref_s = " / ".join(f"{v:.3f}" for v in ref) if ref else "—"
        if m.get("status", "ok") != "ok":
            lines.append(f"| {name} | — | not run: {m['status']} | | | {ref_s} |")
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


def data_table(infos: dict[str, dict]) -> str:
    """One row per prepared dataset: status, size, counts per class, feature statistics."""
    lines = ["| dataset | source | status | points | shape | counts per class (prepared) | "
             "raw counts per class | notes |", "|---|---|---|---|---|---|---|---|"]
    for name, info in infos.items():
        if info.get("status") != "ok":
            reason = info.get("reason", info.get("status", "")).split(" Tried:")[0]
            lines.append(f"| {name} | {info.get('source', '')} | not prepared: {reason} (places "
                         f"tried and the fix: data/prepared/{name}/info.json) | | | | | |")
            continue
        raw = info.get("raw_counts_per_class", {})
        raw_s = (", ".join(f"{k}: {v}" for k, v in raw.items()) if len(raw) <= 20
                 else f"{len(raw)} classes, {min(raw.values())}-{max(raw.values())} each")
        counts = info["counts_per_class"]
        counts_s = (", ".join(map(str, counts)) if len(counts) <= 20
                    else f"{len(counts)} classes, {min(counts)}-{max(counts)} each")
        notes = [f"{k}: {info[k]}" for k in ("vocabulary", "explained_variance", "n_meta", "fit_on",
                                               "target_groups", "skipped_unreadable", "split",
                                               "resize") if k in info]
        lines.append(f"| {name} | {info['source']} | ok | {info['n']} | {tuple(info['shape'])} | "
                     f"{counts_s} | {raw_s} | {'; '.join(map(str, notes))} |")
    return "\n".join(lines)


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
            reason = meta.get("reason") or teacher.get("reason", "not run")
            lines.append(f"| {ds} | {'not used' if 'not used' in reason else 'not run'}: {reason} | | | | | |")
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
    if m is None:
        return [f"not run: not in the suite{r}" for r in ref]
    if m.get("status", "ok") != "ok":
        return [f"not run: {m['status']}{r}" for r in ref]
    res = m["results"].get(pp) or next(iter(m["results"].values()))
    return [f"{_cell(res, k)}{r}" for k, r in zip(("acc", "nmi", "ari"), ref)]


def table1(metrics: dict[str, dict[str, dict]], datasets=TABLE1_DATASETS,
           methods=BASELINE_METHODS + PAPER_METHODS + ["kmeans", "spectral_knn"]) -> str:
    """The paper's Table 1: datasets x methods, ACC / NMI / ARI, 'ours (paper)' per cell.
    ``metrics[dataset][method]`` is the evaluate stage's JSON; post-processing 'none'
    (spectral clustering of 1/2(|C|+|C^T|), the paper's protocol)."""
    lines = ["| dataset | method | ACC | NMI | ARI |", "|---|---|---|---|---|"]
    for ds in datasets:
        for method in methods:
            cells = _ours_vs_paper(metrics.get(ds, {}).get(method),
                                   PAPER_LRSC.get(ds, {}).get(method))
            lines.append(f"| {ds} | {METHOD_NAMES.get(method, method)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def table2(metrics: dict[str, dict[str, dict]], methods=BASELINE_METHODS + PAPER_METHODS) -> str:
    """The paper's Table 2: Fashion-MNIST and notMNIST at 1,000 / 5,000 / 10,000 points, ACC
    (NMI, ARI in the detailed per-dataset tables), 'ours (paper)' per cell."""
    parts = []
    for title, sizes in TABLE2_DATASETS.items():
        lines = [f"**{title}**, ACC / NMI / ARI", "",
                 "| method | " + " | ".join(sizes) + " |", "|---|" + "---|" * len(sizes)]
        for method in methods:
            row = []
            for ds in sizes:
                c = _ours_vs_paper(metrics.get(ds, {}).get(method), PAPER_LRSC.get(ds, {}).get(method))
                row.append(c[0] if c[0].startswith("not run") else " / ".join(c))
            lines.append(f"| {METHOD_NAMES.get(method, method)} | " + " | ".join(row) + " |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def table3(metrics: dict[str, dict[str, dict]], datasets) -> str:
    """The paper's Table 3, the ablation of LRSC-L2: which levels of knowledge each row
    switches on, ACC / NMI / ARI 'ours (paper)'."""
    lines = ["| dataset | task level | model level | self-supervision | ACC | NMI | ARI |",
             "|---|---|---|---|---|---|---|"]
    for ds in datasets:
        for method, flags in ABLATION_ROWS.items():
            cells = _ours_vs_paper(metrics.get(ds, {}).get(method),
                                   PAPER_ABLATION.get(ds, {}).get(method))
            lines.append(f"| {ds} | " + " | ".join(flags) + " | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _class_order(y):
    import numpy as np
    return np.argsort(np.asarray(y), kind="stable")


def tsne_figure(z, y, path, *, seed: int = 0, perplexity: float = 30.0, title: str = "",
                class_names=None) -> None:
    """Figure 2 of LRSC: t-SNE (scikit-learn) of the latent codes Z, coloured by the true
    class (labels only colour the plot, after training). Writes a PNG to ``path``."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from sklearn.manifold import TSNE

    z = np.asarray(z, dtype=np.float64).reshape(len(z), -1)
    emb = TSNE(n_components=2, perplexity=min(perplexity, (len(z) - 1) / 3), init="pca",
               random_state=seed).fit_transform(z)
    fig, ax = plt.subplots(figsize=(5, 5), dpi=120)
    for k in np.unique(y):
        m = y == k
        name = class_names[k] if class_names is not None and k < len(class_names) else str(k)
        ax.scatter(emb[m, 0], emb[m, 1], s=3, label=name)
    ax.set_xticks([]), ax.set_yticks([])
    ax.set_title(title, fontsize=9)
    ax.legend(markerscale=4, fontsize=7, frameon=False)
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)


def affinity_figure(C, y, path, *, title: str = "") -> None:
    """Figure 3 of LRSC: the affinity 1/2(|C| + |C^T|), rows and columns ordered by the true
    class, with the class boundaries drawn. Colour scale clipped at the 99th percentile so the
    block structure shows. Writes a PNG to ``path``."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    A = 0.5 * (np.abs(C) + np.abs(C.T))
    order = _class_order(y)
    A = A[np.ix_(order, order)]
    fig, ax = plt.subplots(figsize=(5, 5), dpi=120)
    ax.imshow(A, cmap="viridis", vmin=0, vmax=np.percentile(A, 99) or None,
              interpolation="nearest")
    bounds = np.cumsum(np.bincount(np.asarray(y)[order]))[:-1]
    for b in bounds:
        ax.axhline(b - 0.5, color="w", lw=0.5), ax.axvline(b - 0.5, color="w", lw=0.5)
    ax.set_xticks([]), ax.set_yticks([])
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)


def placeholder_figure(path, text: str) -> None:
    """A PNG that says why a figure could not be drawn (e.g. its data was unavailable)."""
    import textwrap

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 2), dpi=100)
    ax.axis("off")
    ax.text(0.5, 0.5, textwrap.fill(text[:400], 70), ha="center", va="center", fontsize=8)
    fig.savefig(path, format="png")
    plt.close(fig)


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
