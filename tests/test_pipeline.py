"""A tiny end-to-end `dvc repro` in a temporary copy of the repo (seconds, not minutes)."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from test_data import bbc_archive

ROOT = Path(__file__).resolve().parent.parent


def run(cmd, cwd, env):
    res = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    assert res.returncode == 0, f"{cmd} failed:\n{res.stdout}\n{res.stderr}"
    return res.stdout + res.stderr


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e")
    repo = tmp / "repo"
    repo.mkdir()
    for item in ["stages", "deepsc", "dvc.yaml"]:
        src = ROOT / item
        (shutil.copytree if src.is_dir() else shutil.copy)(src, repo / item,
                                                           **({"ignore": shutil.ignore_patterns("__pycache__")} if src.is_dir() else {}))
    (repo / ".dvc").mkdir()
    shutil.copy(ROOT / ".dvc" / "config", repo / ".dvc" / "config")
    (repo / ".dvc" / ".gitignore").write_text("/config.local\n/tmp\n/cache\n")
    p = yaml.safe_load((ROOT / "params.yaml").read_text())
    p["seeds"] = [0, 1]
    p["suite"] = {"datasets": ["digits", "bbc", "mnistsmall"], "variants": ["dscn_l1", "dscn_l2"],
                  "external": ["digits", "bbc"],  # the full LRSC variant matrix
                  "lrsc": ["lrsc_l1", "lrsc_l2", "lrsc_l2_task", "lrsc_l2_task_model"],
                  "inits": ["task", "task_model"]}
    p["figures"].update(dataset="digits", perplexity=5)
    p["data"]["download"] = False
    p["data"]["sources"] = ["digits", "bbc", "mnist", "notmnist", "omniglot_small", "miniimagenet"]
    p["data"]["datasets"] = {
        "digits": {**p["data"]["datasets"]["digits"], "n_per_class": 12, "seed": 0},
        "bbc": {**p["data"]["datasets"]["bbc"], "svd_dim": 16, "max_df": 1.0, "meta": None},
        "mnistsmall": {"source": "mnist", "kind": "image", "n_clusters": 10, "split": "test",
                       "n_per_class": 5, "size": 32, "seed": 0},
        "notmnistsmall": {"source": "notmnist", "kind": "image", "n_clusters": 10, "n_per_class": 2,
                          "size": 32, "seed": 0},
        # external images: miniImageNet and Omniglot are unavailable here, so the next one
        # serves; a stand-in built from the bundled digits (the real one is MNIST)
        "miniimagenet": p["data"]["datasets"]["miniimagenet"],
        "omniglot": p["data"]["datasets"]["omniglot"],
        "mnist_ext": {"source": "digits", "kind": "image", "n_clusters": 10, "n_per_class": 20,
                      "size": 32, "seed": 1},
        # SSCN's 28x28 setting: a training set and an out-of-sample set (digits stand-ins), and
        # MNIST itself, unavailable here
        "digits28": {"source": "digits", "kind": "image", "n_clusters": 10, "n_per_class": 12,
                     "size": 28, "seed": 0},
        "digits28oos": {"source": "digits", "kind": "image", "n_clusters": 10, "n_per_class": 6,
                        "size": 28, "seed": 1},
        "mnist10k": p["data"]["datasets"]["mnist10k"],
        "mnist60k": p["data"]["datasets"]["mnist60k"],
    }
    p["data"]["external_images"] = ["miniimagenet", "mnist_ext", "omniglot"]
    p["teacher"]["image"].update(arch={"width": 2}, epochs=1, batch_size=32)
    p["teacher"]["text"].update(arch={"hidden": [8, 8, 8], "dropout": 0.0}, epochs=1)
    p["meta"].update(n_per_class=4, n_train=2, tasks_per_batch=1, inner_steps=1, c_steps=2,
                     meta_iters={"text": 2, "image": 2}, val_episodes=2, val_every=1, val_c_steps=5)
    p["ae"]["text"].update(k1=5, latent_dim=8)
    p["ae"]["image"].update(k1=5)
    p["finetune"]["k2"] = {"text": 5, "image": 5}
    p["cluster"]["dscnet"]["d"] = 2
    p["sscn"].update(datasets={"digits28": "digits28oos", "mnist10k": "mnist60k"}, q=2,
                     batch_size=32, epochs=2, block=50, ae={"epochs": 2, "lr": 0.001,
                                                          "batch_size": None, "seed": 0},
                     classifier={**p["sscn"]["classifier"], "epochs": 2, "batch_size": 32,
                                 "iters_per_batch": 2},
                     dscnet={**p["sscn"]["dscnet"], "steps": 3})
    p["baselines"]["datasets"] = ["digits", "bbc"]
    (repo / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))
    mirror = tmp / "mirror"
    mirror.mkdir()
    bbc_archive(mirror / "bbc-fulltext.zip", fmt="zip")  # the canonical name, checked by counts
    env = {**os.environ, "LRSC_DATA_MIRROR": str(mirror), "LRSC_CACHE": str(tmp / "cache"),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "DVC_NO_ANALYTICS": "1", "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    env.pop("CI", None)
    run(["git", "init", "-q"], repo, env)
    run(["git", "add", "-A"], repo, env)
    run(["git", "commit", "-qm", "init"], repo, env)
    dvc = [sys.executable, "-m", "dvc"]
    out = run(dvc + ["repro"], repo, env)
    return repo, env, dvc, out, mirror


def test_repro_produces_metrics_and_table(repo):
    repo, env, dvc, *_ = repo
    m = json.loads((repo / "reports/metrics/bbc/dscn_l2.json").read_text())
    assert m["status"] == "ok" and set(m["results"]) == {"none", "dscnet"}
    assert 0 <= m["results"]["none"]["acc"] <= 1 and len(m["results"]["none"]["acc_per_seed"]) == 2
    assert json.loads((repo / "reports/metrics/digits/kmeans.json").read_text())["status"] == "ok"
    table = (repo / "reports/results.md").read_text()
    assert "DSCN-L2" in table and "0.879" in table  # the paper's BBC number beside ours
    assert "not run: data unavailable" in table and "LRSC_DATA_MIRROR" in table  # mnistsmall
    shown = json.loads(run(dvc + ["metrics", "show", "--json"], repo, env))
    assert "reports/metrics/bbc/dscn_l1.json" in json.dumps(shown)
    run(dvc + ["plots", "show", "--json"], repo, env)


def test_teacher_and_meta_stages(repo):
    repo, env, dvc, *_ = repo
    teacher = json.loads((repo / "reports/teacher/digits.json").read_text())
    assert teacher["status"] == "ok" and teacher["external"] == "mnist_ext"
    assert set(teacher["heldout_acc"]) == {"m1", "m2"}
    meta = json.loads((repo / "reports/meta/digits-task_model.json").read_text())
    assert meta["status"] == "ok" and meta["validation"]["held_out"] == "samples"
    assert {"acc", "nmi", "ari"} <= set(meta["random_init"]) and "acc" in meta["meta_selected"]
    assert meta["eta"] > 0 and json.loads((repo / "reports/meta/digits-task.json").read_text())["eta"] == 0
    curve = (repo / "reports/meta_curves/digits-task_model/plots/metrics/val_acc.tsv").read_text().splitlines()
    assert curve[0].split("\t")[:2] == ["step", "val_acc"] and len(curve) == 1 + 3  # iters 0, 1, 2
    # bbc's fixture has no meta corpus: both stages say so instead of failing
    for report in ("teacher/bbc", "meta/bbc-task", "meta/bbc-task_model"):
        rep = json.loads((repo / f"reports/{report}.json").read_text())
        assert rep["status"] == "unavailable" and "meta corpus" in rep["reason"]
    import numpy as np
    import torch
    from deepsc.nets import build_autoencoder
    ckpt = torch.load(repo / "models/meta/digits-task_model.pt", weights_only=True)
    ae = build_autoencoder(ckpt["kind"], tuple(ckpt["input_shape"]), ckpt["arch"])
    keys = ae.load_state_dict(ckpt["state_dict"], strict=True)
    assert not keys.missing_keys and not keys.unexpected_keys
    feats = np.load(repo / "data/teacher/digits.npz")
    assert feats["target"].shape[0] == 120 and feats["meta"].shape[0] == 200
    assert set(np.unique(feats["fold"])) == {0, 1}


def test_second_repro_does_nothing_and_params_are_granular(repo):
    repo, env, dvc, *_ = repo
    out = run(dvc + ["repro"], repo, env)
    ran = {line.split("'")[1] for line in out.splitlines() if line.startswith("Running stage")}
    # only the (always_changed, seconds-long) source checks run; nothing downstream changes
    assert ran and all(r.startswith("fetch@") for r in ran), ran
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["lambda1"] = params["lambda1"] * 2
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    status = run(dvc + ["status"], repo, env)
    changed = {line.strip().rstrip(":") for line in status.splitlines() if line and not line.startswith("\t")}
    changed = {c for c in changed if "@" in c or c in ("evaluate", "tables")}
    assert any(c.startswith("train@") for c in changed)
    # fetch@* are always_changed (source checks); data preparation and references are untouched
    assert not any(c.startswith(("prepare@", "pretrain@", "reference@", "teacher@", "meta@"))
                   for c in changed), changed
    params["eta"] = 0.5  # the meta-learning distillation weight: meta@ only
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    status = run(dvc + ["status"], repo, env)
    changed = {line.strip().rstrip(":") for line in status.splitlines() if line and not line.startswith("\t")}
    assert {"meta@digits-task_model", "meta@bbc-task_model"} <= changed
    assert not any(c.startswith("teacher@") for c in changed)
    run(["git", "checkout", "params.yaml"], repo, env)
    # the target-side weights of eq. (9): LRSC cells only, never the DSC-Net rows
    for key, first in (("gamma", "lrsc@"), ("sigma", "lrsc@"), ("mu", "pretrain_ext@")):
        params = yaml.safe_load((repo / "params.yaml").read_text())
        params[key] = 0.37  # a number for every data kind (mu may be a mapping by kind)
        (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        status = run(dvc + ["status"], repo, env)
        changed = {line.strip().rstrip(":") for line in status.splitlines()
                   if line and not line.startswith("\t")}
        assert any(c.startswith(first) for c in changed), (key, changed)
        assert not any(c.startswith(("train@", "pretrain@", "meta@", "teacher@", "cluster@"))
                       for c in changed), (key, changed)
        run(["git", "checkout", "params.yaml"], repo, env)


def test_lrsc_variant_matrix_tables_and_figures(repo):
    repo, env, dvc, *_ = repo
    for v in ("lrsc_l1", "lrsc_l2", "lrsc_l2_task", "lrsc_l2_task_model"):
        m = json.loads((repo / f"reports/metrics/digits/{v}.json").read_text())
        assert m["status"] == "ok" and len(m["results"]["none"]["acc_per_seed"]) == 2
        # no external knowledge for bbc's fixture: the cell says why
        m = json.loads((repo / f"reports/metrics/bbc/{v}.json").read_text())
        assert m["status"].startswith("unavailable") and "meta corpus" in m["status"]
    status = json.loads((repo / "models/dsc/digits-lrsc_l2_task/status.json").read_text())
    assert status["init"] == "task" and status["mu"] == 0 and status["gamma"] == 0
    status = json.loads((repo / "models/dsc/digits-lrsc_l2/status.json").read_text())
    assert status["init"] == "task_model" and status["mu"] > 0 and status["gamma"] > 0
    results = (repo / "reports/results.md").read_text()
    for title in ("## Table 1", "## Table 2", "## Table 3"):
        assert title in results
    # every table is well-formed: each row has the header's number of cells
    tables, current = [], []
    for line in results.splitlines() + [""]:
        if line.startswith("|"):
            current.append(line)
        elif current:
            tables.append(current)
            current = []
    assert len(tables) >= 6
    for t in tables:
        assert len({row.count("|") for row in t}) == 1, t[0]
        assert set(t[1].replace("|", "")) <= {"-"}
    table3 = results.split("## Table 3")[1].split("##")[0]
    assert "| bbc | ✓ |  |  | not run: unavailable" in table3 and "(0.879)" in table3
    assert "| digits | ✓ | ✓ | ✓ | 0." in table3
    assert "| notmnist10k | LRSC-L2 | not run: not in the suite (0.608)" in results
    for fig in ("tsne", "affinity"):
        assert (repo / f"reports/figures/{fig}.png").read_bytes()[:4] == b"\x89PNG"
    plots = run(dvc + ["plots", "show", "--json"], repo, env)
    assert "reports/figures/tsne.png" in plots


def test_sscn_stages_metrics_and_table(repo):
    repo, env, dvc, *_ = repo
    m = json.loads((repo / "reports/metrics/digits28/sscn.json").read_text())
    assert m["status"] == "ok" and set(m["results"]) == {"none", "dscnet", "classifier"}
    assert len(m["results"]["dscnet"]["acc_per_seed"]) == 2
    oos = json.loads((repo / "reports/metrics/digits28oos/sscn_oos.json").read_text())
    assert oos["status"] == "ok" and oos["n"] == 60 and set(oos["results"]) == {"classifier"}
    dsc = json.loads((repo / "reports/metrics/digits28/dscnet_sscn_ae.json").read_text())
    assert dsc["status"] == "ok"
    rep = json.loads((repo / "reports/sscn/sscn@digits28.json").read_text())
    assert rep["parameters"] == 14_991 + 480 * 20 + 20 * 20 and rep["peak_rss_mib"] > 0
    assert {"selfexpression", "classifier", "inductive"} <= set(rep["runs"][0]["seconds"])
    # MNIST is not in this fixture's mirror: every SSCN cell says why instead of failing
    assert json.loads((repo / "reports/metrics/mnist10k/sscn.json").read_text())["status"] \
        .startswith("data unavailable")
    results = (repo / "reports/results.md").read_text()
    sscn = results.split("## SSCN")[1]
    assert "### digits28 -> digits28oos" in sscn and "| SSCN-OoS (inductive) | digits28oos |" in sscn
    assert "| SSCN | mnist10k | dscnet | not run: data unavailable" in sscn and "66,291" in sscn
    # SSCN's weights touch the SSCN stages only
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["sscn"]["lambda1"] = 0.25
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    status = run(dvc + ["status"], repo, env)
    changed = {line.strip().rstrip(":") for line in status.splitlines()
               if line and not line.startswith("\t") and "@" in line}
    changed.discard("")
    assert {c for c in changed if not c.startswith("fetch@")} == {"sscn@digits28", "sscn@mnist10k"}
    run(["git", "checkout", "params.yaml"], repo, env)


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


def test_repro_force_gives_identical_metrics(repo):
    repo, env, dvc, *_ = repo
    before = {p: p.read_text() for p in sorted((repo / "reports/metrics").rglob("*.json"))}
    run(dvc + ["repro", "-f", "-s", "train@digits-dscn_l2", "cluster@digits-dscn_l2", "evaluate"], repo, env)
    after = {p: p.read_text() for p in sorted((repo / "reports/metrics").rglob("*.json"))}
    assert before == after


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
    run(dvc + ["repro"], repo, env)
    info = json.loads((repo / "data/prepared/notmnistsmall/info.json").read_text())
    assert info["status"] == "ok" and info["skipped_unreadable"] == 1 and info["n"] == 20
    assert "| notmnistsmall | notmnist | ok | 20 |" in (repo / "reports/data.md").read_text()
