"""Stage fetch@<source>: resolve one raw dataset into data/raw/<source>/ (see deepsc.data.sources)."""
import sys

from common import load_params, raw_dir, timed, stage_args

from deepsc.data import DataUnavailable, get_source, resolve
from deepsc.io import atomic_dir, write_json


def main():
    source = stage_args(__doc__, "source").source
    p = load_params()["data"]
    src = get_source(source)
    with timed(f"fetch@{source}"), atomic_dir(raw_dir(source)) as out:
        if src.bundled:
            status = {"status": "ok", "note": src.note, "files": {}}
        else:
            try:
                files = resolve(source, out, download=p["download"], timeout=p["timeout_s"])
                status = {"status": "ok", "files": files}
            except DataUnavailable as exc:
                if p["on_missing"] == "error":
                    raise
                print(f"WARNING: {exc}", file=sys.stderr)
                status = {"status": "unavailable", "reason": str(exc)}
        write_json(out / "status.json", status)


if __name__ == "__main__":
    main()
