"""The offline default, end to end: `dvc repro` with no data mirror, downloads off and an empty
cache, in a temporary copy of the repo. params.yaml is the shipped one (every dataset of
data.datasets, every source) with the training cut to a few steps, one seed, 100 digits, and
the suite cut to what runs offline: digits (DSC-Net, reference rows, baselines). Checks: digits
rows have numbers; every other dataset is named once, with its fix, at the top of
reports/results.md and in reports/data.md; no table cell is long. (The whole LRSC and SSCN
matrix on missing data runs in tests/test_pipeline.py.)"""
import json
import os
import re
import shutil
import sys
from pathlib import Path

import pytest
import yaml

from e2e import run

from deepsc.report import MAX_CELL, table_cells

ROOT = Path(__file__).resolve().parent.parent


def offline_repo(tmp: Path):
    """A git repo in ``tmp``/repo: the project's stages, library, dvc.yaml, .dvc config and plot
    templates, and params.yaml as shipped with only the training cut to a few steps, one seed
    and 100 digits, the suite cut to digits."""
    repo = tmp / "repo"
    repo.mkdir()
    ignore = shutil.ignore_patterns("__pycache__")
    for item in ["stages", "deepsc"]:
        shutil.copytree(ROOT / item, repo / item, ignore=ignore)
    shutil.copy(ROOT / "dvc.yaml", repo / "dvc.yaml")
    shutil.copytree(ROOT / ".dvc" / "plots", repo / ".dvc" / "plots")
    for keep in [*(ROOT / "data").rglob(".gitignore"), *(ROOT / "models").rglob(".gitignore")]:
        # the folders a fresh clone has (some stages read a folder that may stay empty)
        (repo / keep.relative_to(ROOT)).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(keep, repo / keep.relative_to(ROOT))
    for folder in ("teacher", "meta", "sscn", "paper_scale"):  # in git; read by tables even when empty
        (repo / "reports" / folder).mkdir(parents=True)
    shutil.copy(ROOT / ".dvc" / "config", repo / ".dvc" / "config")
    (repo / ".dvc" / ".gitignore").write_text("/config.local\n/tmp\n/cache\n")
    p = yaml.safe_load((ROOT / "params.yaml").read_text())
    p["seeds"] = [0]
    p["data"]["download"] = False
    p["data"]["datasets"]["digits"].update(n_per_class=10, seed=0)
    for kind in ("text", "image"):
        p["ae"][kind]["k1"] = 3
    p["finetune"]["k2"] = {"text": 3, "image": 3}
    # what runs offline: digits; LRSC needs external data, SSCN needs MNIST (neither is here)
    p["suite"].update(datasets=["digits"], external=[])
    p["baselines"]["datasets"] = ["digits"]
    p["sscn"]["datasets"] = {}
    p["figures"].update(dataset="digits", variant="dscn_l2", perplexity=5)
    (repo / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))
    env = {k: v for k, v in os.environ.items() if k not in ("LRSC_DATA_MIRROR", "CI")}
    env.update(LRSC_CACHE=str(tmp / "cache"), DVC_NO_ANALYTICS="1",
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
               GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@t")
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "init"]):
        run(cmd, repo, env)
    return repo, env, p


@pytest.fixture(scope="module")
def offline(tmp_path_factory):
    repo, env, p = offline_repo(tmp_path_factory.mktemp("offline"))
    run([sys.executable, "-m", "dvc", "repro"], repo, env)
    return repo, env, p


def section(text: str, title: str) -> str:
    return text.split(title, 1)[1].split("\n## ", 1)[0]


def named_once(missing: str, datasets) -> dict[str, str]:
    """Each dataset's line in a 'Missing data' section; fails unless each is named exactly once."""
    lines = {}
    for line in missing.splitlines():
        m = re.match(r"- \*\*(.+?)\*\*: ", line)
        for name in (m.group(1).split(", ") if m else []):
            assert name not in lines, f"{name} named twice"
            lines[name] = line
    assert sorted(lines) == sorted(datasets)
    return lines


def test_digits_rows_have_numbers(offline):
    repo, env, p = offline
    results = (repo / "reports/results.md").read_text()
    number = r"0\.\d{3} ± 0\.\d{3}"
    summary = section(results, "## Summary")
    assert re.search(rf"\| digits \| DSCN-L[12]: {number} \| [^|]+: {number} \| — \|", summary), summary
    t1 = section(results, "## Table 1")
    for row in ("DSCN-L1", "DSCN-L2", "k-means (features)", "spectral, k-NN affinity (features)",
                "SSC", "EnSC", "SSC-OMP", "LRR"):
        assert re.search(rf"\| digits \| {re.escape(row)} \| {number} \| {number} \| {number} \|", t1), row
    # digits is not an LRSC target (suite.external) and no external images exist offline
    assert "| digits | LRSC-L2 | not run: no external data³ |" in t1
    assert "digits: not in suite.external, and none of data.external_images" in t1
    assert "| bbc | DSCN-L2 | not run: no data¹ (0.879) |" in t1
    assert "| bbc | ✓ | ✓ | ✓ | not run: no data¹ (0.929) |" in section(results, "## Table 3")
    for method in ("dscn_l1", "dscn_l2", "kmeans", "ssc", "lrr"):
        m = json.loads((repo / f"reports/metrics/digits/{method}.json").read_text())
        assert m["status"] == "ok" and m["n"] == 100


def test_every_missing_dataset_is_named_once_with_its_fix(offline):
    repo, env, p = offline
    missing = [n for n in p["data"]["prepare"] if n != "digits"]
    for report, title in (("results.md", "## Missing data"), ("data.md", "## Missing data")):
        text = (repo / "reports" / report).read_text()
        lines = named_once(section(text, title), missing)
        for name, line in lines.items():
            assert "Tried: " in line and "cache " in line and "Fix: " in line, line
            assert "LRSC_DATA_MIRROR" in line, line
            assert "set data.download: true" in line, line  # downloads are off here
        assert text.count("Tried:") == len(set(lines.values()))  # nowhere else
    results = (repo / "reports/results.md").read_text()
    assert results.index("## Summary") < results.index("## Missing data") < results.index("## Table 1")


def test_no_table_cell_is_long(offline):
    repo, env, p = offline
    for report in ("results.md", "data.md"):
        cells = table_cells((repo / "reports" / report).read_text())
        assert cells and max(map(len, cells)) <= MAX_CELL, (report, max(cells, key=len))


def test_figures_and_dvc_plots(offline):
    repo, env, p = offline
    for fig in ("ablation", "loss_curves", "tsne", "affinity"):
        assert (repo / f"reports/figures/{fig}.png").read_bytes()[:4] == b"\x89PNG", fig
    terms = (repo / "reports/plots/k2_terms.csv").read_text().splitlines()
    assert terms[0] == "curve,term,step,value" and any(t.startswith("digits-dscn_l2,rec,") for t in terms)
    shown = json.loads(run([sys.executable, "-m", "dvc", "plots", "show", "--json"], repo, env))
    k2 = shown["data"]["reports/plots/k2_terms.csv"][0]["content"]
    assert k2["facet"]["field"] == "curve" and k2["spec"]["encoding"]["color"]["field"] == "term"
    assert "reports/figures/ablation.png" in shown["data"]
