"""The data stages end to end in their own tiny repo (tests/e2e.py): `dvc repro data_report` runs
fetch@ and prepare@ only, so these checks run beside the whole-DAG test (tests/test_pipeline.py)
instead of after it."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from e2e import run, tiny_repo


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    repo, env, dvc, mirror = tiny_repo(tmp_path_factory.mktemp("e2e_data"))
    out = run(dvc + ["repro", "data_report"], repo, env)
    return repo, env, dvc, out, mirror


def test_unknown_dataset_is_a_clear_error(repo):
    repo, env, dvc, *_ = repo
    res = subprocess.run([sys.executable, "stages/prepare.py", "nosuch"], cwd=repo, env=env,
                         capture_output=True, text=True)
    assert res.returncode != 0 and "unknown dataset 'nosuch'" in res.stderr
    assert not (repo / "data/prepared/nosuch").exists()


def test_data_report_lists_counts_and_skips(repo):
    repo, env, dvc, *_ = repo
    report = (repo / "reports/data.md").read_text()
    assert "| bbc | bbc | ok | 2225 |" in report and "business: 510" in report
    assert "| mnistsmall | mnist | not prepared:" in report


def test_corrupt_archive_gives_clear_error_and_no_output(repo):
    from test_data_sources import notmnist_tar

    repo, env, dvc, _, mirror = repo
    good = notmnist_tar(mirror.parent / "good.tar.gz", per_class=3)
    data = good.read_bytes()
    (mirror / "notMNIST_small.tar.gz").write_bytes(data[: len(data) // 2])  # truncated
    res = subprocess.run(dvc + ["repro", "prepare@notmnistsmall"], cwd=repo, env=env,
                         capture_output=True, text=True)
    assert res.returncode != 0
    assert "notMNIST_small.tar.gz: cannot read the notMNIST archive" in res.stdout + res.stderr
    left = list((repo / "data/prepared/notmnistsmall").glob("*.npz"))
    assert not left and not list((repo / "data/prepared").glob(".*.tmp"))


def test_data_that_appears_later_is_picked_up_without_force(repo):
    from test_data_sources import notmnist_tar

    repo, env, dvc, _, mirror = repo
    notmnist_tar(mirror / "notMNIST_small.tar.gz", per_class=3)
    (Path(env["LRSC_CACHE"]) / "notmnist" / "notMNIST_small.tar.gz").unlink(missing_ok=True)
    run(dvc + ["repro", "data_report"], repo, env)
    info = json.loads((repo / "data/prepared/notmnistsmall/info.json").read_text())
    assert info["status"] == "ok" and info["skipped_unreadable"] == 1 and info["n"] == 20
    assert "| notmnistsmall | notmnist | ok | 20 |" in (repo / "reports/data.md").read_text()
