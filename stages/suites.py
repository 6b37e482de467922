"""Which (dataset, method) results `dvc repro` produces: the LRSC suite (common.suite_methods),
the SSCN suite (sscn.datasets) and the classical baselines (baselines.datasets). Read by the
evaluate and tables stages."""
from common import suite_methods

BASELINES = ["ssc", "ensc", "ssc_omp", "lrr"]


def sscn_methods(params: dict) -> dict[str, list[str]]:
    """Per dataset: 'sscn' (transductive; with 'classifier' = the classifier on the training
    points) and 'dscnet_sscn_ae' on the training set, 'sscn_oos' on the out-of-sample set."""
    out: dict[str, list[str]] = {}
    for train, oos in (params.get("sscn", {}).get("datasets") or {}).items():
        out.setdefault(train, []).extend(SSCN_METHODS[:2])
        out.setdefault(oos, []).append(SSCN_METHODS[2])
    return out


SSCN_METHODS = ("sscn", "dscnet_sscn_ae", "sscn_oos")


def method_seeds(params: dict, method: str) -> list[int]:
    """The seeds a method's stage runs: sscn.seeds for the SSCN stages, seeds for the rest."""
    return list(params["sscn"]["seeds"] if method in SSCN_METHODS else params["seeds"])


def all_methods(params: dict) -> dict[str, list[str]]:
    out = {ds: list(m) for ds, m in suite_methods(params).items()}
    for ds in params.get("baselines", {}).get("datasets") or []:
        out.setdefault(ds, []).extend(BASELINES)
    for ds, methods in sscn_methods(params).items():
        out.setdefault(ds, []).extend(methods)
    return {ds: list(dict.fromkeys(m)) for ds, m in out.items()}
