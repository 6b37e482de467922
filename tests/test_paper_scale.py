"""The paper-scale suite (params.yaml `paper_scale:`, tools/paper_scale.py): its overrides name
keys that exist and the paper's sizes, and the tables stage puts a kept run into the paper's
columns with its command and seeds. The run itself, in tiny form, is in tests/test_pipeline.py."""
import json
import shutil
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "stages"))

import paper_scale  # noqa: E402

PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())


def lookup(params: dict, dotted: str):
    node = params
    for key in dotted.split("."):
        assert isinstance(node, dict) and key in node, f"{dotted}: no such key in params.yaml"
        node = node[key]
    return node


def test_every_override_names_an_existing_key_and_sets_exactly_that_value(tmp_path):
    from dvc.utils.hydra import apply_overrides

    for name, over in PARAMS["paper_scale"].items():
        for key in over:
            lookup(PARAMS, key)  # a typo would make `dvc exp run -S` add a new, unused key
        # what `dvc exp run -S ...` does to params.yaml, through DVC's own function
        path = tmp_path / f"{name}.yaml"
        shutil.copy(ROOT / "params.yaml", path)
        flags = paper_scale.set_flags(over)
        assert flags[::2] == ["-S"] * (len(flags) // 2)
        apply_overrides(path, flags[1::2])
        got = yaml.safe_load(path.read_text())
        for key, value in over.items():
            assert lookup(got, key) == value, (name, key)  # replaced, not merged
        assert got["sscn"]["datasets"] == {} and got["sscn"]["q"] == PARAMS["sscn"]["q"]
        for ds in over["suite.datasets"] + over["suite.external"]:
            assert ds in PARAMS["data"]["datasets"], (name, ds)
        assert set(over["suite.lrsc"]) <= set(PARAMS["variants"])


def test_the_parts_are_the_papers_sizes():
    d = PARAMS["data"]["datasets"]
    assert d["fmnist10k"]["n_per_class"] * d["fmnist10k"]["n_clusters"] == 10_000
    assert d["fmnist5k"]["n_per_class"] * d["fmnist5k"]["n_clusters"] == 5_000
    assert d["news20"]["target_groups"] == 10 and "n_per_class" not in d["news20"]  # every document
    assert PARAMS["paper_scale"]["news20"]["suite.datasets"] == ["news20"]


def test_a_stage_timing_belongs_to_its_dataset_only():
    assert paper_scale.stage_of("train@news20-dscn_l1.json", "news20")
    assert paper_scale.stage_of("teacher@news20.json", "news20")
    assert not paper_scale.stage_of("sscn@digits28.json", "digits")
    assert not paper_scale.stage_of("evaluate.json", "news20")


def test_unknown_part_names_the_key():
    try:
        paper_scale.overrides(PARAMS, "fmnist11k")
    except SystemExit as e:
        assert "fmnist11k" in str(e) and "paper_scale" in str(e) and "news20" in str(e)
    else:
        raise AssertionError("no error")


def test_tables_fill_the_papers_columns_from_a_kept_run(tmp_path, monkeypatch):
    import tables
    from deepsc.metrics import summarize

    def ok(accs):
        per = [{"acc": a, "nmi": a / 2, "ari": a / 3} for a in accs]
        return {"status": "ok", "n": 9301, "seeds": list(range(len(accs))),
                "results": {"none": summarize(per)}}

    kept = tmp_path / "reports" / "paper_scale" / "news20"
    (kept / "timings").mkdir(parents=True)
    (kept / "lrsc_l2.json").write_text(json.dumps(ok([0.41, 0.43, 0.45])))
    (kept / "knowledge.json").write_text(json.dumps({"features": {}}))
    (kept / "run.json").write_text(json.dumps(
        {"part": "news20", "experiment": "paper-news20", "code_commit": "abcdef0123",
         "command": "python tools/paper_scale.py news20", "overrides": {}}))
    # a kept run of a dataset that the default suite runs itself is not read
    shutil.copytree(kept, tmp_path / "reports" / "paper_scale" / "bbc")
    monkeypatch.setattr(tables, "ROOT", tmp_path)
    p = {**PARAMS, "suite": {**PARAMS["suite"], "datasets": ["bbc"], "external": ["bbc"]},
         "baselines": {**PARAMS["baselines"], "datasets": []}, "sscn": {**PARAMS["sscn"], "datasets": {}}}
    runs = tables.paper_scale_runs(p)
    assert list(runs) == ["news20"]
    metrics = tables.load_metrics(p, infos={})
    assert set(metrics["news20"]) == {"lrsc_l2"} and metrics["news20"]["lrsc_l2"]["n"] == 9301
    from deepsc.report import table1
    row = next(line for line in table1(metrics).splitlines() if "| news20 | LRSC-L2 |" in line)
    assert "0.430 ± 0.016 (0.406)" in row  # ours beside the paper's
    note = tables.paper_scale_note(runs, metrics)
    assert "`python tools/paper_scale.py news20`" in note and "seeds [0, 1, 2]" in note
    assert "abcdef0" in note
    assert tables.table3_paper_runs(runs, metrics) == []   # no ablation row kept: no Table 3
    metrics["news20"]["lrsc_l2_task"] = ok([0.5, 0.5, 0.5])
    assert tables.table3_paper_runs(runs, metrics) == ["news20"]


def test_a_tune_sweep_outside_tune_datasets_is_not_in_the_suites_run_time():
    import tables
    rec = [{"stage": s, "wall_s": 1.0, "peak_rss_mib": 1.0}
           for s in ("train@bbc-dscn_l2", "tune@bbc", "tune@news20")]
    ours, apart = tables.split_timings(rec, ["news20"])
    assert [r["stage"] for r in ours] == ["train@bbc-dscn_l2", "tune@news20"]
    assert [r["stage"] for r in apart] == ["tune@bbc"]
    assert tables.split_timings(rec, [])[1] == rec[1:]


def _fake_experiment(monkeypatch, tmp_path, files: dict):
    """tools/paper_scale.py's git calls answered from ``files`` (path -> text), as if an
    experiment commit held them; ROOT is ``tmp_path``."""
    exp, base = "e" * 40, "b" * 40

    def git(*args):
        if args[0] == "for-each-ref":
            return "refs/exps/ab/cdef/paper-fmnist10k\n"
        if args[0] == "rev-parse":
            return (base if args[1].endswith("^") else exp) + "\n"
        if args[0] == "ls-tree":
            return "\n".join(files) + "\n"
        if args[0] == "show":
            return files[args[1].split(":", 1)[1]]
        raise AssertionError(args)

    monkeypatch.setattr(paper_scale, "git", git)
    monkeypatch.setattr(paper_scale, "ROOT", tmp_path)


def test_merge_adds_a_piece_and_replace_starts_over(tmp_path, monkeypatch):
    over = {"suite.datasets": ["fmnist10k"]}
    kept = tmp_path / "reports" / "paper_scale" / "fmnist10k"
    (kept / "timings").mkdir(parents=True)
    (kept / "dscn_l2.json").write_text('{"old": true}')
    (kept / "timings" / "train@fmnist10k-dscn_l2.json").write_text("{}")
    (kept / "run.json").write_text(json.dumps(   # a run kept before pieces were recorded
        {"part": "fmnist10k", "experiment": "paper-fmnist10k", "code_commit": "1" * 40,
         "command": "python tools/paper_scale.py fmnist10k -S 'suite.variants=[dscn_l2]'"}))
    _fake_experiment(monkeypatch, tmp_path, {
        "reports/metrics/fmnist10k/dscn_l1.json": '{"new": true}',
        "reports/metrics/bbc/dscn_l1.json": '{"other dataset": true}',
        "reports/timings/train@fmnist10k-dscn_l1.json": "{}",
        "reports/curves/fmnist10k-dscn_l1.csv": "seed,step,z_rms\n0,1,0.1\n",
        "reports/curves/bbc-dscn_l1.csv": "seed,step,z_rms\n"})
    for _ in range(2):   # the same experiment kept twice (--keep-only) is one piece
        paper_scale.keep("paper-fmnist10k", "fmnist10k", over, ["suite.variants=[dscn_l1]"],
                         merge=True)
    assert [p.name for p in (kept / "curves").iterdir()] == ["fmnist10k-dscn_l1.csv"]
    assert sorted(p.name for p in kept.glob("*.json")) == ["dscn_l1.json", "dscn_l2.json",
                                                           "run.json"]
    assert sorted(p.name for p in (kept / "timings").iterdir()) == [
        "train@fmnist10k-dscn_l1.json", "train@fmnist10k-dscn_l2.json"]
    run = json.loads((kept / "run.json").read_text())
    assert [p["rows"] for p in run["pieces"]] == [["dscn_l2"], ["dscn_l1"]]
    assert run["pieces"][1]["command"] == ("python tools/paper_scale.py fmnist10k --merge "
                                           "-S 'suite.variants=[dscn_l1]'")
    assert run["pieces"][1]["code_commit"] == "b" * 40

    import tables
    note = tables.paper_scale_note({"fmnist10k": run}, {"fmnist10k": {
        "dscn_l1": {"status": "ok", "seeds": [0, 1, 2]},
        "dscn_l2": {"status": "ok", "seeds": [0, 1, 2]}}})
    assert "-S 'suite.variants=[dscn_l2]'` (experiment paper-fmnist10k, code 1111111, rows dscn_l2)" in note
    assert "--merge -S 'suite.variants=[dscn_l1]'` (experiment paper-fmnist10k, code bbbbbbb, rows dscn_l1)" in note
    assert tables.run_commands(run) == ("python tools/paper_scale.py fmnist10k -S "
                                        "'suite.variants=[dscn_l2]'`; `python tools/paper_scale.py "
                                        "fmnist10k --merge -S 'suite.variants=[dscn_l1]'")

    paper_scale.keep("paper-fmnist10k", "fmnist10k", over)   # no --merge: this run only
    assert sorted(p.name for p in kept.glob("*.json")) == ["dscn_l1.json", "run.json"]
    assert "pieces" not in json.loads((kept / "run.json").read_text())


def test_the_newest_experiment_of_a_name_is_kept_not_the_last_by_hash(monkeypatch):
    older, newer = ("refs/exps/75/8c1a/paper-fmnist10k", "refs/exps/54/207b/paper-fmnist10k")

    def git(*args):   # git sorts by refname unless told otherwise
        assert args[0] == "for-each-ref"
        by_date = "--sort=committerdate" in args
        return "\n".join([older, "refs/exps/60/aaaa/paper-news20", newer] if by_date
                         else [newer, "refs/exps/60/aaaa/paper-news20", older]) + "\n"

    monkeypatch.setattr(paper_scale, "git", git)
    assert paper_scale.exp_ref("paper-fmnist10k") == newer
    with pytest.raises(SystemExit, match="no experiment named 'paper-x'"):
        paper_scale.exp_ref("paper-x")


def test_a_second_piece_on_the_same_commit_stops_before_it_runs(monkeypatch):
    head = "3aa3cdd5963854b2595b4121790036456c68b223"
    refs = ["refs/exps/3a/a3cdd5963854b2595b4121790036456c68b223/paper-fmnist10k",
            "refs/exps/75/8c1a/paper-news20"]

    def git(*args):
        return head + "\n" if args[0] == "rev-parse" else "\n".join(refs) + "\n"

    monkeypatch.setattr(paper_scale, "git", git)
    with pytest.raises(SystemExit, match="'paper-fmnist10k' already exists on this commit "
                                         r"\(3aa3cdd\).*git commit.*dvc exp remove paper-fmnist10k"):
        paper_scale.check_name_free("paper-fmnist10k")
    paper_scale.check_name_free("paper-news20")   # that name hangs off another commit: free


def test_the_figures_show_a_row_the_run_trains():
    params = {"suite": {"variants": ["dscn_l1", "dscn_l2"], "lrsc": ["lrsc_l1", "lrsc_l2"]},
              "figures": {"dataset": "bbc", "variant": "lrsc_l2"}}
    part = {"suite.datasets": ["fmnist10k"], "figures.dataset": "fmnist10k"}
    # the part's rows include the figures' variant: nothing changes
    assert paper_scale.with_figures_variant(params, part) == part
    # a DSCN-L1-only piece: the figures move to the row it trains
    piece = {**part, "suite.variants": ["dscn_l1"], "suite.lrsc": []}
    assert paper_scale.with_figures_variant(params, piece)["figures.variant"] == "dscn_l1"
    # an LRSC-L1-only piece: that row, not the default's lrsc_l2
    piece = {**part, "suite.lrsc": ["lrsc_l1"]}
    assert paper_scale.with_figures_variant(params, piece)["figures.variant"] == "lrsc_l1"
    with pytest.raises(SystemExit, match="trains no row"):
        paper_scale.with_figures_variant(params, {**part, "suite.variants": [], "suite.lrsc": []})


def prepared_deps(tmp: Path, params: dict) -> dict[str, set[str]]:
    """{dataset: stages} of every data/prepared/<dataset> dependency in the DAG that DVC itself
    resolves from dvc.yaml with ``params`` (the bare data/prepared folder is not one dataset)."""
    from dvc.repo import Repo

    tmp.mkdir()
    shutil.copy(ROOT / "dvc.yaml", tmp / "dvc.yaml")
    (tmp / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    Repo.init(str(tmp), no_scm=True)
    out: dict[str, set[str]] = {}
    with Repo(str(tmp)) as repo:
        for stage in repo.index.stages:
            for dep in stage.deps:
                parts = Path(dep.def_path).parts
                if parts[:2] == ("data", "prepared") and len(parts) > 2:
                    out.setdefault(parts[2], set()).add(stage.addressing)
    return out


def test_every_dataset_a_stage_reads_is_prepared(tmp_path):
    """data.prepare lists what the suite reads: for the shipped params and each paper-scale part
    (its overrides applied), every data/prepared/<name> dependency of the resolved DAG is a
    dataset that prepare@ builds, and the default builds nothing no stage reads."""
    from dvc.utils.hydra import apply_overrides

    configs = {"default": PARAMS}
    for name, over in PARAMS["paper_scale"].items():
        path = tmp_path / f"{name}.yaml"
        shutil.copy(ROOT / "params.yaml", path)
        apply_overrides(path, paper_scale.set_flags(over)[1::2])
        configs[name] = yaml.safe_load(path.read_text())
    for name, params in configs.items():
        deps = prepared_deps(tmp_path / name, params)
        prepared = set(params["data"]["prepare"])
        assert prepared <= set(params["data"]["datasets"]), name
        unbuilt = {ds: sorted(st) for ds, st in deps.items() if ds not in prepared}
        assert not unbuilt, f"{name}: read but not in data.prepare: {unbuilt}"
        if name == "default":
            assert prepared == set(deps), sorted(prepared - set(deps))   # nothing built for nothing
            assert not {"news20", "fmnist5k", "fmnist10k"} & prepared
