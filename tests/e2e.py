"""A tiny copy of the repo for the end-to-end `dvc repro` tests (tests/test_pipeline.py runs the
whole DAG in one, tests/test_pipeline_data.py the data stages in another)."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from test_data import bbc_archive

ROOT = Path(__file__).resolve().parent.parent


def run(cmd, cwd, env):
    res = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    assert res.returncode == 0, f"{cmd} failed:\n{res.stdout}\n{res.stderr}"
    return res.stdout + res.stderr


def tiny_repo(tmp: Path):
    """A git repo in ``tmp``/repo with the project's stages, library and dvc.yaml, params.yaml cut
    down to seconds-long stages, and a data mirror in ``tmp``/mirror holding only a BBC fixture
    (the rest of the data is unavailable, or the bundled digits). Nothing is run yet."""
    repo = tmp / "repo"
    repo.mkdir()
    for item in ["stages", "deepsc", "dvc.yaml", "tools"]:
        src = ROOT / item
        (shutil.copytree if src.is_dir() else shutil.copy)(src, repo / item,
                                                           **({"ignore": shutil.ignore_patterns("__pycache__")} if src.is_dir() else {}))
    (repo / "reports" / "paper_scale").mkdir(parents=True)  # in git: a dep of the tables stage
    shutil.copy(ROOT / "reports" / "paper_scale" / "README", repo / "reports" / "paper_scale")
    (repo / ".dvc").mkdir()
    shutil.copy(ROOT / ".dvc" / "config", repo / ".dvc" / "config")
    shutil.copytree(ROOT / ".dvc" / "plots", repo / ".dvc" / "plots")  # dvc plots templates
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
    p["data"]["prepare"] = list(p["data"]["datasets"])
    p["data"]["external_images"] = ["miniimagenet", "mnist_ext", "omniglot"]
    p["teacher"]["image"].update(arch={"width": 2}, epochs=1, batch_size=32)
    p["teacher"]["text"].update(arch={"hidden": [8, 8, 8], "dropout": 0.0}, epochs=1)
    p["meta"].update(n_per_class=4, n_train=2, tasks_per_batch=1, inner_steps=1, c_steps=2,
                     meta_iters={"text": 2, "image": 2}, val_episodes=2, val_every=1, val_c_steps=5)
    p["ae"]["text"].update(k1=5, latent_dim=8)
    p["ae"]["image"].update(k1=5)
    p["finetune"]["k2"] = {"text": 5, "image": 5}
    p["cluster"]["dscnet"]["d"] = 2
    p["tune"].update(datasets=["digits"], draws=[0], seeds=[0],   # a grid per data kind, as params.yaml
                     grid={"image": {"distill": ["eq4", "rayleigh"], "mu": [0.0, 1.0], "gamma": [0.05]},
                           "text": {"mu": [0.0], "gamma": [0.0]}})
    p["sscn"].update(datasets={"digits28": "digits28oos", "mnist10k": "mnist60k"}, q=2, seeds=[0, 1],
                     batch_size=32, epochs=2, block=50, ae={"epochs": 2, "lr": 0.001,
                                                          "batch_size": None, "seed": 0},
                     classifier={**p["sscn"]["classifier"], "epochs": 2, "batch_size": 32,
                                 "iters_per_batch": 2},
                     dscnet={**p["sscn"]["dscnet"], "steps": 3})
    p["baselines"]["datasets"] = ["digits"]
    # the shipped news20 part of the paper-scale suite, on digits (tests/test_pipeline.py)
    p["paper_scale"] = {"tiny": {k: (["digits"] if v == ["news20"] else "digits" if v == "news20"
                                     else [0, 1] if k == "seeds"
                                     else p["data"]["prepare"] if k == "data.prepare" else v)
                                 for k, v in p["paper_scale"]["news20"].items()}}
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
    return repo, env, dvc, mirror


