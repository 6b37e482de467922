"""Stage figures: LRSC's Figure 2 (t-SNE of the latent Z) and Figure 3 (affinity matrix) for
figures.dataset / figures.variant / figures.seed (default: BBC, LRSC-L2, seed 0).

Labels only colour and order the plots, after training. Writes
reports/figures/tsne.png and reports/figures/affinity.png (declared as `dvc plots`).
"""
import numpy as np
import torch

from common import ROOT, dataset_info, is_ok, load_params, prepared_dir, stage_args, timed

from deepsc.io import atomic_path, read_json
from deepsc.plots import affinity_figure, placeholder_figure, tsne_figure
from deepsc.report import METHOD_NAMES, brief, not_run_label


def main():
    stage_args(__doc__)   # no arguments; --help prints the docstring
    p = load_params()
    f = p["figures"]
    ds, variant, seed = f["dataset"], f["variant"], int(f["seed"])
    name = f"{ds}-{variant}"
    model_dir = ROOT / "models" / "dsc" / name
    if not (model_dir / "status.json").is_file():
        raise SystemExit(f"figures: {model_dir} is missing; figures.dataset/variant ({name}) must be "
                         f"a trained (dataset, variant) of the suite in params.yaml")
    out = ROOT / "reports" / "figures"
    with timed("figures"):
        status = read_json(model_dir / "status.json")
        info = dataset_info(ds)
        if not (is_ok(info) and is_ok(status)):  # data.on_missing: skip -> say so in the figure
            reason = info.get("reason") or status.get("reason") or status["status"]
            for fig in ("tsne", "affinity"):
                with atomic_path(out / f"{fig}.png", ".png") as tmp:
                    why = brief(reason, 100)
                    placeholder_figure(tmp, f"{name}: not run: {not_run_label(reason)}"
                                            + (f" ({why})" if why else "")
                                            + "; reports/results.md says more")
            return
        res = torch.load(model_dir / f"seed{seed}.pt", weights_only=True)
        y = np.load(prepared_dir(ds) / "labels.npz")["y"]
        classes = list(info.get("raw_counts_per_class", {})) or None
        label = f"{METHOD_NAMES.get(variant, variant)} on {ds}, seed {seed}"
        with atomic_path(out / "tsne.png", ".png") as tmp:
            tsne_figure(res["z"].numpy(), y, tmp, seed=seed, perplexity=f["perplexity"],
                        title=f"t-SNE of the latent Z: {label}", class_names=classes)
        with atomic_path(out / "affinity.png", ".png") as tmp:
            affinity_figure(res["C"].numpy(), y, tmp,
                            title=f"1/2(|C|+|C^T|), ordered by true class: {label}")


if __name__ == "__main__":
    main()
