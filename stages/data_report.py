"""Stage data_report: reports/data.md, what every prepared dataset (data.prepare) holds and, once per missing
dataset, what it needs, where it was looked for and how to provide it."""
from common import ROOT, load_params, prepared_dir, stage_args

from deepsc.io import atomic_path, read_json
from deepsc.report import data_table, missing_data_section


def main():
    stage_args(__doc__)   # no arguments; --help prints the docstring
    p = load_params()
    infos = {name: read_json(prepared_dir(name) / "info.json") for name in p["data"]["prepare"]}
    missing = missing_data_section(infos, p["data"].get("download"))
    with atomic_path(ROOT / "reports" / "data.md", ".md") as tmp:
        tmp.write_text("# Prepared data\n\nProduced by `dvc repro` (stage `data_report`). Raw "
                       "counts per class are checked against shared/data/MANIFEST.md by the "
                       "loaders; a mismatch stops the run.\n\n" + data_table(infos) + "\n"
                       + (f"\n{missing}\n" if missing else ""))


if __name__ == "__main__":
    main()
