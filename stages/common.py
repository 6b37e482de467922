"""Shared plumbing of the stage scripts: params, paths, status files, timings.

Stage scripts stay thin: they read params.yaml, call the library (``deepsc``), and write
their outputs atomically. The library itself never reads params.yaml.
"""
from __future__ import annotations

import argparse
import contextlib
import signal
import sys
from pathlib import Path

import numpy as np

import yaml

from deepsc.io import Stopwatch, read_json, write_json

ROOT = Path(__file__).resolve().parent.parent

# A stage stopped by SIGTERM unwinds like Ctrl-C, so atomic writes remove their temp files.
signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def stage_args(doc: str, *names: str) -> argparse.Namespace:
    """Parse the stage's positional arguments (e.g. 'dataset', 'variant')."""
    ap = argparse.ArgumentParser(description=doc)
    for name in names:
        ap.add_argument(name)
    return ap.parse_args()


def load_params(path: Path | None = None) -> dict:
    return yaml.safe_load((path or ROOT / "params.yaml").read_text())


def raw_dir(source: str) -> Path:
    return ROOT / "data" / "raw" / source


def prepared_dir(dataset: str) -> Path:
    return ROOT / "data" / "prepared" / dataset


def dataset_info(dataset: str) -> dict:
    path = prepared_dir(dataset) / "info.json"
    if not path.is_file():
        raise SystemExit(f"{path} is missing: is {dataset!r} defined under data.datasets and "
                         f"listed in data.prepare of params.yaml, and has prepare@{dataset} run?")
    return read_json(path)


def check_dataset(params: dict, name: str) -> dict:
    """The settings of dataset ``name``, or a clear error naming the key to fix."""
    datasets = params["data"]["datasets"]
    if name not in datasets:
        raise SystemExit(f"unknown dataset {name!r}: add it under data.datasets in params.yaml "
                         f"(known: {', '.join(datasets)})")
    cfg = datasets[name]
    for key in ("source", "kind", "n_clusters"):
        if key not in cfg:
            raise SystemExit(f"data.datasets.{name}.{key} is missing in params.yaml")
    if cfg.get("n_per_class") is not None and int(cfg["n_per_class"]) < 1:
        raise SystemExit(f"data.datasets.{name}.n_per_class must be >= 1, got {cfg['n_per_class']}")
    return cfg


def load_features(dataset: str) -> np.ndarray:
    """The prepared features of a dataset (labels live in another file, read only by evaluate)."""
    return np.load(prepared_dir(dataset) / "features.npz")["X"]


def is_ok(status: dict) -> bool:
    return status.get("status") == "ok"


@contextlib.contextmanager
def timed(stage: str):
    """Record wall time and peak RSS of the stage in reports/timings/<stage>.json."""
    with Stopwatch() as sw:
        yield
    write_json(ROOT / "reports" / "timings" / f"{stage}.json", {"stage": stage, **sw.as_dict()})
    print(f"[{stage}] {sw.seconds:.1f} s, peak RSS {sw.peak_rss_mib:.0f} MiB", file=sys.stderr)


def external_data(params: dict, dataset: str, info: dict):
    """The external (meta) data of a target, with its labels: (X, y, name), or a reason string.

    Text targets carry their meta corpus in their own feature space (prepare's meta.npz);
    image targets use the first prepared dataset of ``data.external_images``.
    """
    if not is_ok(info):
        return f"target {dataset} unavailable: {info.get('reason', '')}"
    if info["kind"] == "text":
        meta = np.load(prepared_dir(dataset) / "meta.npz")
        if len(meta["X"]) == 0:
            return f"{dataset} has no meta corpus: set data.datasets.{dataset}.meta"
        return meta["X"], meta["y"], params["data"]["datasets"][dataset]["meta"]
    tried = []
    for name in params["data"]["external_images"]:
        if name == dataset:  # a target must never learn from its own labels
            raise SystemExit(f"{dataset} is both the target and in data.external_images: "
                             f"remove it from data.external_images in params.yaml")
        ext = dataset_info(name)
        if is_ok(ext):
            return load_features(name), np.load(prepared_dir(name) / "labels.npz")["y"], name
        tried.append(f"{name}: {ext.get('reason', ext.get('status'))}")
    return "no external image data prepared (data.external_images): " + "; ".join(tried)


INITS = {"random": (False, False), "task": (True, False), "model": (False, True),
         "task_model": (True, True)}


def init_levels(init: str) -> tuple[bool, bool]:
    """(task level, model level) of an initialisation name of suite.inits."""
    if init not in INITS:
        raise SystemExit(f"unknown init {init!r} in suite.inits: use one of {', '.join(INITS)}")
    return INITS[init]


def by_kind(params: dict, key: str, kind: str | None, reg: str | None = None) -> float:
    """A top-level weight: one number for every dataset, or a mapping by data kind
    ({text: .., image: ..}), since the terms of eq. (9) weigh differently per kind; lambda2
    may also be a mapping by regulariser ({l1: .., l2: ..}: ||C||_1 and ||C||_F^2 are different
    norms), whose values may in turn be numbers or mappings by kind."""
    value = params[key]
    if isinstance(value, dict) and reg is not None and reg in value:
        value = value[reg]
    if isinstance(value, dict):
        if kind not in value:
            raise SystemExit(f"{key} in params.yaml has no value for data kind {kind!r}"
                             + (f" or regulariser {reg!r}" if reg else "")
                             + " (give a number, or a mapping with keys text and image"
                             + (", or l1 and l2)" if key == "lambda2" else ")"))
        value = value[kind]
    return float(value)


def distill_form(params: dict, kind: str | None, variant: str | None = None) -> str:
    """The form of eq. (4) that mu weighs for data of ``kind`` (top-level ``distill``: one name
    or a mapping by data kind; absent: 'eq4'), in K1 and K2; a variant's own ``distill``
    overrides it in K2 (``variant``)."""
    from deepsc.losses import DISTILLS

    value, key = params.get("distill", "eq4"), "distill"
    if isinstance(value, dict):
        if kind not in value:
            raise SystemExit(f"distill in params.yaml has no value for data kind {kind!r} "
                             f"(give one of {', '.join(DISTILLS)}, or a mapping with keys text and image)")
        value = value[kind]
    if variant is not None and "distill" in params["variants"][variant]:
        value, key = params["variants"][variant]["distill"], f"variants.{variant}.distill"
    if value not in DISTILLS:
        raise SystemExit(f"{key} is {value!r} in params.yaml: use one of {', '.join(DISTILLS)}")
    return value


def variant_settings(params: dict, variant: str, kind: str | None = None) -> dict:
    """What a variant of params.yaml switches on, as the init it trains from and the effective
    weights of eq. (9) for data of ``kind``: a term's weight is the top-level symbol times the
    variant's switch."""
    if variant not in params["variants"]:
        raise SystemExit(f"unknown variant {variant!r}: add it under variants in params.yaml "
                         f"(known: {', '.join(params['variants'])})")
    v = params["variants"][variant]
    for key in ("reg", "task", "model", "self"):
        if key not in v:
            raise SystemExit(f"variants.{variant}.{key} is missing in params.yaml")
    w = {key: by_kind(params, key, kind, v["reg"])
         for key in ("lambda1", "lambda2", "mu", "gamma", "sigma", "lambda3", "lambda4", "eta")}
    for key, value in w.items():
        if value < 0:
            raise SystemExit(f"{key} must be >= 0 in params.yaml, got {params[key]}")
    if not w["sigma"] > 0:
        raise SystemExit(f"sigma (eq. 8's temperature) must be > 0 in params.yaml, got {params['sigma']}")
    init = next(k for k, lv in INITS.items() if lv == (bool(v["task"]), bool(v["model"])))
    return {"reg": v["reg"], "init": init, "mu": w["mu"] if v["model"] else 0.0,
            "gamma": w["gamma"] if v["self"] else 0.0, "sigma": w["sigma"]}


def teacher_target(dataset: str):
    """The teacher's features of the target (teacher@<dataset>), or the reason they are missing."""
    status = read_json(ROOT / "models" / "teacher" / dataset / "status.json")
    if not is_ok(status):
        return f"teacher@{dataset}: {status.get('reason', status['status'])}"
    return np.load(ROOT / "data" / "teacher" / f"{dataset}.npz")["target"]


def suite_methods(params: dict) -> dict[str, list[str]]:
    """Per dataset of the suite, the methods `dvc repro` clusters: DSCN variants and the
    reference rows for suite.datasets, LRSC variants for suite.external."""
    s = params["suite"]
    out = {}
    for ds in list(s["datasets"]) + [d for d in s.get("external", []) if d not in s["datasets"]]:
        methods = list(s["variants"]) if ds in s["datasets"] else []
        methods += list(s.get("lrsc", [])) if ds in s.get("external", []) else []
        methods += ["kmeans", "spectral_knn"] if ds in s["datasets"] else []
        out[ds] = methods
    return out
