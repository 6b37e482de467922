"""Stage fetch@<source>: resolve one raw dataset into data/raw/<source>/ (see deepsc.data.sources).

The stage is always_changed in dvc.yaml: every `dvc repro` re-checks the sources (seconds), so
data that appears later (a mirror set, a file copied into the cache) is picked up without -f.
Unchanged files hash the same, so nothing downstream re-runs.
"""
import sys

from common import load_params, raw_dir, stage_args

from deepsc.data import DataUnavailable, get_source, resolve
from deepsc.io import atomic_dir, write_json


def main():
    source = stage_args(__doc__, "source").source
    p = load_params()["data"]
    src = get_source(source)
    with atomic_dir(raw_dir(source)) as out:
        if src.bundled:
            status = {"status": "ok", "note": src.note, "files": {}}
        else:
            try:
                files = resolve(source, out, download=p["download"], timeout=p["timeout_s"])
                for name, rec in files.items():
                    print(f"{source}: {name} from {rec['from']}", file=sys.stderr)
                # only what is fetched, not from where: the output hashes the same whichever
                # source provided the bytes, so nothing downstream re-runs for a change of source
                status = {"status": "ok", "files": {n: r["sha256"] for n, r in files.items()}}
            except DataUnavailable as exc:
                if p["on_missing"] == "error":
                    raise
                print(f"WARNING: {exc}", file=sys.stderr)
                status = {"status": "unavailable", "reason": str(exc)}
        write_json(out / "status.json", status)


if __name__ == "__main__":
    main()
