"""A tiny end-to-end `dvc repro` of the whole DAG in a temporary copy of the repo (tests/e2e.py);
the data stages' own checks are in tests/test_pipeline_data.py, which runs beside this file."""
import json
import os
import sys

import pytest
import yaml

from e2e import run, tiny_repo


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    repo, env, dvc, mirror = tiny_repo(tmp_path_factory.mktemp("e2e"))
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
    assert "not run: no data¹" in table and "LRSC_DATA_MIRROR" in table  # mnistsmall
    shown = json.loads(run(dvc + ["metrics", "show", "--json"], repo, env))
    assert "reports/metrics/bbc/dscn_l1.json" in json.dumps(shown)
    # `dvc plots show` is checked in test_lrsc_variant_matrix_tables_and_figures


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
    assert set(status["collapse"]) == {"0", "1"}  # the latent monitor's verdict per seed
    # knowledge quality, after training: features and the teacher (bbc's fixture has none)
    know = json.loads((repo / "reports/metrics/digits/knowledge.json").read_text())
    assert set(know) == {"features", "teacher"} and 0 <= know["teacher"]["knn10_agreement"] <= 1
    assert set(json.loads((repo / "reports/metrics/bbc/knowledge.json").read_text())) == {"features"}
    # the pre-training health of every seed reaches the tables (issue 17)
    results = (repo / "reports/results.md").read_text()
    assert "## Pre-training health" in results and "| pretrain@digits | 1 |" in results
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
    assert "| bbc | ✓ |  |  | not run: no external data³" in table3 and "(0.879)" in table3
    assert "| digits | ✓ | ✓ | ✓ | 0." in table3
    assert "| notmnist10k | LRSC-L2 | not run: not in the suite² (0.608)" in results
    for fig in ("tsne", "affinity"):
        assert (repo / f"reports/figures/{fig}.png").read_bytes()[:4] == b"\x89PNG"
    plots = run(dvc + ["plots", "show", "--json"], repo, env)
    assert "reports/figures/tsne.png" in plots and "reports/plots/k2_terms.csv" in plots
    for fig in ("ablation", "loss_curves"):  # the plots stage: Table 3 as bars, K2 terms
        assert (repo / f"reports/figures/{fig}.png").read_bytes()[:4] == b"\x89PNG"
    from deepsc.report import MAX_CELL, table_cells
    assert max(map(len, table_cells(results))) <= MAX_CELL


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
    assert "| SSCN | mnist10k | dscnet | not run: no data¹" in sscn and "66,291" in sscn
    for b in ("ssc", "ensc", "ssc_omp", "lrr"):  # the classical baselines (baselines.datasets)
        m = json.loads((repo / f"reports/metrics/digits/{b}.json").read_text())
        assert m["status"] == "ok" and len(m["results"]["none"]["acc_per_seed"]) == 2
    assert "| SSC-OMP | none | 0." in results and "| LRR | none | 0." in results
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


def test_repro_force_gives_identical_metrics(repo):
    repo, env, dvc, *_ = repo
    before = {p: p.read_text() for p in sorted((repo / "reports/metrics").rglob("*.json"))}
    ckpts = sorted((repo / "models/dsc/digits-dscn_l2").glob("seed*.pt"))
    ckpt_before = {p: p.read_bytes() for p in ckpts}
    run(dvc + ["repro", "-f", "-s", "train@digits-dscn_l2", "cluster@digits-dscn_l2", "evaluate"], repo, env)
    after = {p: p.read_text() for p in sorted((repo / "reports/metrics").rglob("*.json"))}
    assert before == after
    # the checkpoints too, byte for byte (so DVC's hash of a re-run model stage is unchanged)
    assert ckpts and {p: p.read_bytes() for p in ckpts} == ckpt_before


def test_tune_sweep_runs_on_external_data_only(repo):
    repo, env, dvc, *_ = repo
    res = json.loads((repo / "reports/tune/digits.json").read_text())
    # distill x mu: at mu = 0 the form of eq. 4 does not matter and runs once
    assert res["status"] == "ok" and len(res["runs"]) == 3 and res["best"]["mu"] in (0.0, 1.0)
    assert sorted((r["distill"], r["mu"]) for r in res["settings"]) == [
        ("eq4", 0.0), ("eq4", 1.0), ("rayleigh", 1.0)]
    assert all(0 <= r["acc"] <= 1 and r["heldout"] == "samples" for r in res["runs"])
    assert all(r["z_rms"] > 0 and "collapse" in r for r in res["runs"])
    assert "proxy ACC" in (repo / "reports/tune/digits.md").read_text()
    draws = {r["draw"] for r in res["runs"]}   # the proxy's knowledge, one entry per draw
    assert {r["draw"] for r in res["knowledge"]} == draws
    assert all(0 <= r[key] <= 1 for r in res["knowledge"] for key in ("features_knn10", "teacher_knn10"))
    assert "label agreement on each proxy draw" in (repo / "reports/tune/digits.md").read_text()
    stage = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]["tune"]["do"]
    deps = [d if isinstance(d, str) else next(iter(d)) for d in stage["deps"]]
    assert not any(d.endswith("labels.npz") and "${item}" in d for d in deps)  # never the target's
    assert "data/prepared/${item}/meta.npz" in deps


@pytest.mark.skipif(not os.environ.get("DEEPSC_TEST_PAPER_SCALE"),
                    reason="118 s on this CPU, past CI's 20-minute budget: `make test-paper-scale`")
def test_paper_scale_part_runs_as_a_temporary_experiment_and_is_kept(repo):
    """`python tools/paper_scale.py <part>` with the shipped news20 part's overrides on digits:
    a `dvc exp run --temp` that leaves the workspace as it was, then its metrics and stage
    timings copied to reports/paper_scale/digits/ (last test of this module: it commits)."""
    repo, env, dvc, *_ = repo
    run(["git", "add", "-A"], repo, env)
    run(["git", "commit", "-qm", "repro"], repo, env)
    before = (repo / "reports/metrics/digits/lrsc_l2.json").read_text()
    out = run([sys.executable, "tools/paper_scale.py", "tiny"], repo, env)
    assert "reports/paper_scale/digits/lrsc_l2.json" in out
    # suite.inits changed, so the LRSC cells re-ran; the part sets finetune.c_update.l1 and
    # train@ depends on all of `finetune`, so the DSC-Net cells re-ran too; the meta-learner's
    # params did not change, so it came from the cache
    ran = {line.split("'")[1] for line in out.splitlines() if line.startswith("Running stage")}
    assert "lrsc@digits-lrsc_l2" in ran and not any(r.startswith("meta@") for r in ran)
    kept = repo / "reports/paper_scale/digits"
    assert {p.stem for p in kept.glob("*.json")} == {
        "dscn_l1", "dscn_l2", "lrsc_l1", "lrsc_l2", "kmeans", "spectral_knn", "knowledge",
        "ssc", "ensc", "ssc_omp", "lrr", "run"}  # the part's rows only, not Table 3's ablations
    m = json.loads((kept / "lrsc_l2.json").read_text())
    assert m["status"] == "ok" and m["seeds"] == [0, 1]
    assert m == json.loads(before)  # a re-run with the same params gives the same numbers
    assert (kept / "timings" / "lrsc@digits-lrsc_l2.json").is_file()
    assert json.loads((kept / "run.json").read_text())["overrides"]["suite.lrsc"] == ["lrsc_l1", "lrsc_l2"]
    # the workspace is untouched: params, lock, the default suite's outputs
    assert run(["git", "status", "--porcelain", "--untracked-files=no"], repo, env).strip() == ""
    exp = json.loads((kept / "run.json").read_text())["experiment_commit"]
    assert "paper-tiny" in run(["git", "for-each-ref", "--contains", exp, "refs/exps"], repo, env)
