"""The papers' numbers and the Markdown tables that put ours beside them."""
from __future__ import annotations

# LRSC (AAAI 2021) Tables 1 and 2: (ACC, NMI, ARI). Keys: our dataset names.
PAPER_LRSC = {
    "bbc": {"dscn_l1": (0.855, 0.722, 0.694), "dscn_l2": (0.879, 0.727, 0.725),
            "lrsc_l1": (0.928, 0.802, 0.834), "lrsc_l2": (0.929, 0.804, 0.836)},
    "fmnist1k": {"dscn_l1": (0.536, 0.594, 0.406), "dscn_l2": (0.536, 0.594, 0.406),
                 "lrsc_l1": (0.588, 0.645, 0.458), "lrsc_l2": (0.607, 0.627, 0.439)},
    "fmnist5k": {"dscn_l1": (0.563, 0.558, 0.372), "dscn_l2": (0.563, 0.558, 0.372),
                 "lrsc_l1": (0.631, 0.674, 0.508), "lrsc_l2": (0.636, 0.682, 0.516)},
    "fmnist10k": {"dscn_l1": (0.608, 0.640, 0.470), "dscn_l2": (0.585, 0.626, 0.447),
                  "lrsc_l1": (0.652, 0.672, 0.529), "lrsc_l2": (0.651, 0.672, 0.527)},
    "newsgroups10": {"dscn_l1": (0.348, 0.275, 0.122), "dscn_l2": (0.352, 0.283, 0.122),
                     "lrsc_l1": (0.369, 0.287, 0.105), "lrsc_l2": (0.406, 0.315, 0.161)},
}

METHOD_NAMES = {"dscn_l1": "DSCN-L1", "dscn_l2": "DSCN-L2", "lrsc_l1": "LRSC-L1",
                "lrsc_l2": "LRSC-L2", "kmeans": "k-means (features)",
                "spectral_knn": "spectral, k-NN affinity (features)"}


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
            lines.append(f"| {ds} | not run: {reason} | | | | | |")
            continue
        acc = teacher["heldout_acc"]
        v, r, s, f = meta["validation"], meta["random_init"], meta["meta_selected"], meta["meta_final"]
        lines.append(
            f"| {ds} | {meta['external']} ({teacher['n_external']} points, {teacher['n_classes']} "
            f"classes) | {acc['m1']:.3f} / {acc['m2']:.3f} | {v['episodes']} x {meta['episodes']['k']} "
            f"classes, held-out {v['held_out']} | {r['acc']:.3f} / {r['nmi']:.3f} | "
            f"{s['acc']:.3f} / {s['nmi']:.3f} ({s['iter']}) | {f['acc']:.3f} / {f['nmi']:.3f} |")
    return "\n".join(lines)
