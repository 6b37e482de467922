"""Run one part of the paper-scale suite (params.yaml, `paper_scale:`) and keep its numbers.

    python tools/paper_scale.py news20            # dvc exp run --temp, then keep its metrics
    python tools/paper_scale.py news20 --dry      # print the dvc command only
    python tools/paper_scale.py news20 --keep-only EXP   # copy from an experiment that ran
    python tools/paper_scale.py fmnist10k -S 'suite.variants=["dscn_l2"]'   # a part of a part
    python tools/paper_scale.py fmnist10k --merge -S ...   # add a piece to the kept rows

The part's overrides become `dvc exp run --temp -n paper-<name> -S key=value ...`: the
experiment runs in a temporary copy of the workspace, so the default suite's outputs, params
and dvc.lock stay as they are. A run cut short starts over: its dvc.lock lived in the temporary
copy, and DVC's run cache skips every stage here (each has a `cache: false` output, its
timings), so the outputs left in the DVC cache are not found again. Its metrics
(reports/metrics/<dataset>/*.json) and stage timings are then copied from the experiment's commit to reports/paper_scale/<dataset>/, with a
run.json naming the experiment, its overrides and the commit it ran on. Extra `-S key=value`
flags come after the part's (e.g. fewer rows when a session cannot hold the whole part; a later
full run of the part computes those rows again). Without ``--merge`` the dataset's kept folder
is replaced by this run's; with it, this run's files are added to (and replace the same files
of) the kept ones and run.json lists every piece, so a part can be run a few rows at a time
across sessions. `dvc repro -s tables`
puts them into the paper's columns of reports/results.md; `dvc exp show` lists the run.
"""
import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from deepsc.io import atomic_dir, read_json, write_json  # noqa: E402


def overrides(params: dict, name: str) -> dict:
    parts = params.get("paper_scale") or {}
    if name not in parts:
        raise SystemExit(f"unknown paper-scale part {name!r}: add it under paper_scale in "
                         f"params.yaml (known: {', '.join(parts) or 'none'})")
    return parts[name]


def set_flags(over: dict) -> list[str]:
    """-S key=value flags; values in JSON, which DVC reads as YAML. DVC (Hydra) merges a
    mapping into the one in params.yaml, so `sscn.datasets={}` alone would keep every
    dataset: a mapping is set by deleting the key first (`~key`) and adding it anew (`+key=`)."""
    flags = []
    for key, value in over.items():
        if isinstance(value, dict):
            flags += ["-S", f"~{key}", "-S", f"+{key}={json.dumps(value)}"]
        else:
            flags += ["-S", f"{key}={json.dumps(value)}"]
    return flags


def with_figures_variant(params: dict, over: dict) -> dict:
    """The overrides with ``figures.variant`` set to a row this run trains: the figures stage
    reads models/dsc/<figures.dataset>-<figures.variant>, so a part run a few rows at a time
    (``-S suite.lrsc=[]``) would fail at its last stage and lose every row (a ``--temp`` run
    that fails keeps nothing). An LRSC row is preferred, as in the default suite."""
    suite = params.get("suite", {})
    rows = [*over.get("suite.lrsc", suite.get("lrsc", [])),
            *over.get("suite.variants", suite.get("variants", []))]
    if not rows:
        raise SystemExit("this run trains no row (suite.lrsc and suite.variants are empty): "
                         "give it at least one")
    variant = over.get("figures.variant", params.get("figures", {}).get("variant"))
    return over if variant in rows else {**over, "figures.variant": rows[0]}


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True,
                          text=True).stdout


def exp_ref(exp: str) -> str:
    """The newest experiment named ``exp``. The name repeats across pieces, and the refs
    (refs/exps/<baseline commit>/<name>) sort by their baseline's hash, not by age."""
    refs = [r for r in git("for-each-ref", "--sort=committerdate", "--format=%(refname)",
                           "refs/exps").split()
            if r.rsplit("/", 1)[-1] == exp]
    if not refs:
        raise SystemExit(f"no experiment named {exp!r} (dvc exp list): run it first")
    return refs[-1]


def check_name_free(exp: str) -> None:
    """Stop, before an hour of work, when an experiment named ``exp`` already hangs off this
    commit: `dvc exp run -n` would refuse it at the end of its setup, and its advice (``-f``)
    would also force every stage to re-run. Two pieces of a part in a row hit this unless the
    first piece's kept files are committed in between, which gives the next a new baseline."""
    head = git("rev-parse", "HEAD").strip()
    ref = f"refs/exps/{head[:2]}/{head[2:]}/{exp}"
    if ref in git("for-each-ref", "--format=%(refname)", "refs/exps").split():
        raise SystemExit(f"an experiment named {exp!r} already exists on this commit ({head[:7]}): "
                         f"commit what the last piece kept (git add reports/paper_scale; git "
                         f"commit) and run again, or drop it with `dvc exp remove {exp}`")


def stage_of(timing_file: str, ds: str) -> bool:
    """Whether reports/timings/<stage>.json is a stage of dataset ``ds`` (name@ds, name@ds-...)."""
    cell = timing_file.removesuffix(".json").partition("@")[2]
    return cell == ds or cell.startswith(f"{ds}-")


def pieces(run: dict) -> list[dict]:
    """The runs a kept folder's run.json records: ``pieces``, or the run itself (one piece)."""
    return run["pieces"] if "pieces" in run else [run]


def keep(exp: str, name: str, over: dict, extra=(), merge: bool = False) -> list[Path]:
    """Copy the experiment's metrics and timings of its datasets to reports/paper_scale/
    (each dataset's folder replaced atomically, so a failed copy leaves the old one). With
    ``merge`` the kept files stay unless this run has the same file, and run.json's ``pieces``
    gains this run (each piece names the metrics files it wrote; the same experiment commit
    kept twice, e.g. by --keep-only, is one piece). The K2 curves (reports/curves/<ds>-*.csv:
    each term and the latent's rms and effective rank per step) come along."""
    ref = exp_ref(exp)
    commit = git("rev-parse", ref).strip()
    base = git("rev-parse", f"{commit}^").strip()
    files = git("ls-tree", "-r", "--name-only", commit, "reports/metrics",
                "reports/timings", "reports/curves").split()
    written = []
    for ds in over["suite.datasets"]:
        mine = {}  # destination relative to the dataset's folder -> file in the experiment
        for f in files:
            parts = Path(f).parts
            if parts[1] == "metrics" and parts[2] == ds:
                mine[Path(parts[-1])] = f
            elif parts[1] == "timings" and stage_of(parts[2], ds):
                mine[Path("timings") / parts[-1]] = f
            elif parts[1] == "curves" and parts[2].startswith(f"{ds}-"):  # K2 terms, z_rms
                mine[Path("curves") / parts[-1]] = f
        if not any(rel.parent == Path(".") for rel in mine):
            raise SystemExit(f"experiment {exp} has no reports/metrics/{ds}: did it finish?")
        run = {"part": name, "experiment": exp, "experiment_commit": commit,
               "code_commit": base, "overrides": over,
               "command": " ".join([f"python tools/paper_scale.py {name}",
                                    *(["--merge"] if merge else []),
                                    *(f"-S '{e}'" for e in extra)]),
               "rows": sorted(rel.stem for rel in mine if rel.parent == Path("."))}
        out = ROOT / "reports" / "paper_scale" / ds
        before = []
        if merge and (out / "run.json").is_file():
            before = [p for p in pieces(read_json(out / "run.json"))  # kept again: replaced
                      if p.get("experiment_commit") != commit]
            for piece in before:   # a run kept before pieces were recorded: what the folder holds
                piece.setdefault("rows", sorted(f.stem for f in out.glob("*.json")
                                                if f.stem != "run"))
            if any(p.get("part", name) != name for p in before):
                raise SystemExit(f"{out}/run.json is of another part: --merge adds pieces of "
                                 f"the same part only")
        with atomic_dir(out) as tmp:
            if before:
                shutil.copytree(out, tmp, dirs_exist_ok=True)
            for rel, f in mine.items():
                (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
                (tmp / rel).write_text(git("show", f"{commit}:{f}"))
            write_json(tmp / "run.json", {"part": name, "pieces": before + [run]} if merge else run)
        written += [out / rel for rel in mine] + [out / "run.json"]
    return written


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("name", help="a key of paper_scale in params.yaml")
    ap.add_argument("--dry", action="store_true", help="print the dvc command, run nothing")
    ap.add_argument("--keep-only", metavar="EXP", help="only copy from this experiment")
    ap.add_argument("--merge", action="store_true",
                    help="add this run's rows to the kept ones (run.json lists the pieces)")
    ap.add_argument("-S", dest="extra", action="append", default=[], metavar="KEY=VALUE",
                    help="an override after the part's (the value in YAML)")
    a = ap.parse_args()
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    over = dict(overrides(params, a.name))
    for flag in a.extra:
        key, sep, value = flag.partition("=")
        if not sep:
            raise SystemExit(f"-S {flag!r}: expected KEY=VALUE")
        over[key] = yaml.safe_load(value)
    over = with_figures_variant(params, over)
    exp = a.keep_only or f"paper-{a.name}"
    cmd = ["dvc", "exp", "run", "--temp", "-n", exp, *set_flags(over)]
    if a.dry:
        print(" ".join(f"'{c}'" if "=" in c else c for c in cmd))
        return
    if not a.keep_only:
        check_name_free(exp)
        rc = subprocess.run(cmd, cwd=ROOT).returncode
        if rc:
            sys.exit(rc)
    for path in keep(exp, a.name, over, a.extra, merge=a.merge):
        print(path.relative_to(ROOT))


if __name__ == "__main__":
    main()
