"""Stage data_report: reports/data.md, what every prepared dataset holds (or why it is missing)."""
from common import ROOT, load_params, prepared_dir

from deepsc.io import atomic_path, read_json
from deepsc.report import data_table


def main():
    p = load_params()
    infos = {name: read_json(prepared_dir(name) / "info.json") for name in p["data"]["datasets"]}
    with atomic_path(ROOT / "reports" / "data.md", ".md") as tmp:
        tmp.write_text("# Prepared data\n\nProduced by `dvc repro` (stage `data_report`). Raw "
                       "counts per class are checked against shared/data/MANIFEST.md by the "
                       "loaders; a mismatch stops the run.\n\n" + data_table(infos) + "\n")


if __name__ == "__main__":
    main()
