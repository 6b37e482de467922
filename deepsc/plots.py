"""Figures: LRSC's Figure 2 (t-SNE of Z) and Figure 3 (affinity), Table 3's ablation as bars
with per-seed dots, and the K2 loss curves per term (a static PNG, and the long-format rows
that the `dvc plots` template .dvc/plots/k2_terms.json draws). PNGs only, via matplotlib's Agg
backend; every function writes to the path it is given (the caller makes it atomic)."""
from __future__ import annotations

import math

NOT_TERMS = ("seed", "step")  # the other columns of a K2 curve file are terms (or diagnostics)


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _class_order(y):
    import numpy as np
    return np.argsort(np.asarray(y), kind="stable")


def tsne_figure(z, y, path, *, seed: int = 0, perplexity: float = 30.0, title: str = "",
                class_names=None) -> None:
    """Figure 2 of LRSC: t-SNE (scikit-learn) of the latent codes Z, coloured by the true
    class (labels only colour the plot, after training). Writes a PNG to ``path``."""
    plt = _plt()
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
    plt = _plt()
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

    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 2), dpi=100)
    ax.axis("off")
    ax.text(0.5, 0.5, textwrap.fill(text[:400], 70), ha="center", va="center", fontsize=8)
    fig.savefig(path, format="png")
    plt.close(fig)


def _float(v):
    if v is None or v == "":
        return None
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def curve_terms(rows: list[dict]) -> list[str]:
    """The columns of a K2 curve (rows of reports/curves/<dataset>-<variant>.csv) that hold at
    least one number, in file order, without seed and step: whatever terms the file has."""
    cols = list(dict.fromkeys(k for r in rows for k in r))
    return [c for c in cols if c not in NOT_TERMS and any(_float(r.get(c)) is not None for r in rows)]


def mean_curve(rows: list[dict], term: str):
    """(steps, mean, min, max) of ``term`` over the seeds, per step."""
    by_step: dict[float, list[float]] = {}
    for r in rows:
        step, v = _float(r.get("step")), _float(r.get(term))
        if step is not None and v is not None:
            by_step.setdefault(step, []).append(v)
    steps = sorted(by_step)
    return (steps, [sum(by_step[s]) / len(by_step[s]) for s in steps],
            [min(by_step[s]) for s in steps], [max(by_step[s]) for s in steps])


def k2_long_rows(curves: dict[str, list[dict]]) -> list[dict]:
    """Long-format rows {curve, term, step, value} (mean over seeds) of every curve and term,
    for `dvc plots` (one line per term, one panel per curve; new terms need no change)."""
    out = []
    for name, rows in curves.items():
        for term in curve_terms(rows):
            steps, mean, _, _ = mean_curve(rows, term)
            out += [{"curve": name, "term": term, "step": int(s) if float(s).is_integer() else s,
                     "value": round(v, 6)} for s, v in zip(steps, mean)]
    return out


def loss_curves_figure(curves: dict[str, dict[str, list[dict]]], path, *, title: str = "") -> None:
    """The K2 loss curves per term: one row of panels per dataset, one panel per term column
    present in its curve files, one line per variant (mean over seeds, band = min-max)."""
    plt = _plt()
    grid = {ds: {v: rows for v, rows in variants.items() if rows} for ds, variants in curves.items()}
    grid = {ds: v for ds, v in grid.items() if v}
    if not grid:
        placeholder_figure(path, "no K2 curves yet: no (dataset, variant) of the suite has trained")
        return
    terms = {ds: list(dict.fromkeys(t for rows in v.values() for t in curve_terms(rows)))
             for ds, v in grid.items()}
    ncol = max(len(t) for t in terms.values())
    fig, axes = plt.subplots(len(grid), ncol, figsize=(2.6 * ncol, 2.3 * len(grid)), dpi=100,
                             squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (ds, variants) in enumerate(grid.items()):
        for j in range(ncol):
            ax = axes[i][j]
            if j >= len(terms[ds]):
                ax.axis("off")
                continue
            term = terms[ds][j]
            lows, highs = [], []
            for k, (variant, rows) in enumerate(variants.items()):
                steps, mean, lo, hi = mean_curve(rows, term)
                if not steps:
                    continue
                lows.append(min(lo)), highs.append(max(hi))
                c = colours[k % len(colours)]
                ax.plot(steps, mean, color=c, lw=1.2, label=variant)
                if len(set(map(tuple, zip(lo, hi)))) > 1:
                    ax.fill_between(steps, lo, hi, color=c, alpha=0.15, lw=0)
            if lows and min(lows) > 0 and max(highs) / min(lows) > 30:  # spans decades
                ax.set_yscale("log")
            ax.set_title(f"{ds}: {term}", fontsize=8)
            ax.tick_params(which="both", labelsize=6)
            ax.set_xlabel("K2 step", fontsize=7)
        axes[i][0].legend(fontsize=6, frameon=False)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)


METRIC_KEYS = ("acc", "nmi", "ari")


def ablation_figure(results: dict[str, dict[str, dict | None]], paper: dict[str, dict[str, tuple]],
                    rows: dict[str, str], path, *, notes: dict[str, str] | None = None,
                    pp: str = "none", title: str = "") -> None:
    """Table 3's ablation as bars: one panel per dataset, one group per row of the table
    (``rows``: method -> label), one bar per metric (our mean), a dot per seed, the paper's
    value as a black tick. A dataset without our numbers shows the paper's ticks and its
    ``notes`` entry (e.g. 'not run: no data')."""
    plt = _plt()
    notes = notes or {}
    datasets = list(results)
    fig, axes = plt.subplots(1, len(datasets), figsize=(4.2 * len(datasets), 3.6), dpi=110,
                             squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    width = 0.26
    handles: dict = {}
    for ax, ds in zip(axes[0], datasets):
        any_ours = False
        for gi, method in enumerate(rows):
            m = results[ds].get(method)
            ok = m is not None and m.get("status", "ok") == "ok"
            r = (m["results"].get(pp) or next(iter(m["results"].values()))) if ok else None
            ref = paper.get(ds, {}).get(method)
            for mi, key in enumerate(METRIC_KEYS):
                x = gi + (mi - 1) * width
                if r is not None:
                    any_ours = True
                    ax.bar(x, r[key], width * 0.92, color=colours[mi], alpha=0.75,
                           label=key.upper() if gi == 0 else None)
                    seeds = r.get(f"{key}_per_seed") or []
                    offs = [(s - (len(seeds) - 1) / 2) * width * 0.18 for s in range(len(seeds))]
                    ax.scatter([x + o for o in offs], seeds, s=9, color="k", zorder=3,
                               label="per seed" if gi == 0 and mi == 0 else None)
                if ref is not None:
                    ax.plot([x - width * 0.45, x + width * 0.45], [ref[mi], ref[mi]], color="k",
                            lw=2, solid_capstyle="butt",
                            label="paper" if gi == 0 and mi == 0 else None)
        ax.set_xticks(range(len(rows)))
        ax.set_xticklabels(list(rows.values()), fontsize=7)
        ax.set_ylim(0, 1)
        ax.set_title(ds, fontsize=9)
        ax.tick_params(axis="y", labelsize=7)
        if not any_ours:
            ax.text(0.5, 0.55, notes.get(ds, "not run"), transform=ax.transAxes, ha="center",
                    va="center", fontsize=9, color="0.3",
                    bbox={"facecolor": "white", "edgecolor": "0.7"})
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
    if handles:
        fig.legend(list(handles.values()), list(handles), loc="lower center", ncol=len(handles),
                   fontsize=7, frameon=False)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(path, format="png")
    plt.close(fig)
