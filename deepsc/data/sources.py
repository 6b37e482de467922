"""Where raw files come from, and proof that they are the right bytes.

Each raw file is resolved in this order (first hit wins):

1. the project's own cache (``$LRSC_CACHE``, default ``~/.cache/deepsc``);
2. every folder in ``$LRSC_DATA_MIRROR`` (colon-separated), holding the archives under the
   file names of ``shared/data/MANIFEST.md`` (directly or in the dataset's sub-folder);
3. system packages (Debian's ``dataset-fashion-mnist`` at ``/usr/share/datasets/fashion-mnist``);
4. the canonical download URL (short time-out, retries, temp file, verify, rename).

A file whose sha256 is known must match one of its known digests (canonical bytes, or a
documented re-packing such as Debian's re-headered ``.gz``); a mismatch is an error naming
the file, the expected and the found digest. Files with no known digest are checked for
structure and per-class counts by their loader.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from ..io import atomic_path


class DataUnavailable(RuntimeError):
    """No source could provide a raw file."""


class DataCorrupt(ValueError):
    """A raw file was found but is not what it should be (checksum, structure, counts)."""


@dataclass(frozen=True)
class RawFile:
    name: str
    sha256: tuple[str, ...] = ()  # every accepted digest; empty: verified by structure
    urls: tuple[str, ...] = ()
    folder: bool = False  # an extracted folder (copied as a tree, checked by its loader)


@dataclass(frozen=True)
class Source:
    """One raw dataset: the files it needs, or alternatives (any one complete set will do)."""

    name: str
    folder: str  # sub-folder name in a mirror (as in shared/data)
    alternatives: tuple[tuple[RawFile, ...], ...]
    system_dirs: tuple[str, ...] = ()
    bundled: bool = False
    note: str = ""
    extra: dict = field(default_factory=dict)


_FMNIST_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
_MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"

SOURCES: dict[str, Source] = {
    "digits": Source("digits", "digits", (), bundled=True, note="bundled with scikit-learn"),
    "bbc": Source(
        "bbc",
        "bbc",
        (
            (RawFile("bbc-fulltext.tar.gz",
                     ("c1d0b19571806c6447195c801e4aa5184440aec124c0f62b71be33e87e37a68b",)),),
            (RawFile("bbc-fulltext.zip", (), ("http://mlg.ucd.ie/files/datasets/bbc-fulltext.zip",)),),
            (RawFile("bbc", folder=True),),
        ),
    ),
    "fashion_mnist": Source(
        "fashion_mnist",
        "fashion-mnist",
        (
            tuple(
                RawFile(f"{stem}.gz", digests, (_FMNIST_URL + f"{stem}.gz",))
                for stem, digests in [
                    ("train-images-idx3-ubyte", (
                        "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
                        "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7")),
                    ("train-labels-idx1-ubyte", (
                        "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
                        "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056")),
                    ("t10k-images-idx3-ubyte", (
                        "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
                        "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa")),
                    ("t10k-labels-idx1-ubyte", (
                        "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
                        "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05")),
                ]
            ),
        ),
        system_dirs=("/usr/share/datasets/fashion-mnist",),
    ),
    "mnist": Source(
        "mnist",
        "mnist",
        (
            tuple(
                RawFile(f"{stem}.gz", (digest,), (_MNIST_URL + f"{stem}.gz",))
                for stem, digest in [
                    ("train-images-idx3-ubyte", "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
                    ("train-labels-idx1-ubyte", "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
                    ("t10k-images-idx3-ubyte", "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
                    ("t10k-labels-idx1-ubyte", "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
                ]
            ),
        ),
    ),
    "newsgroups20": Source(
        "newsgroups20",
        "20news-bydate",
        (
            (RawFile("20news-bydate.tar.gz",
                     ("d31b2431d62dfa88b3ecb6e8d02ff27b52ae818ce23ab7aa119a8412b21d6014",),
                     ("http://qwone.com/~jason/20Newsgroups/20news-bydate.tar.gz",)),),
            (RawFile("20news-bydate-train", folder=True), RawFile("20news-bydate-test", folder=True)),
            (RawFile("20news-bydate_py3.pkz"),),  # scikit-learn's fetch_20newsgroups cache
        ),
        system_dirs=(str(Path.home() / "scikit_learn_data"),),
    ),
    "notmnist": Source(
        "notmnist",
        "notmnist",
        (
            (RawFile("notMNIST_small.tar.gz", (),
                     ("http://yaroslavvb.com/upload/notMNIST/notMNIST_small.tar.gz",)),),
            (RawFile("notMNIST_small", folder=True),),
        ),
        note="18,724 readable PNGs expected; two canonical PNGs do not decode and are skipped",
    ),
    "miniimagenet": Source(
        "miniimagenet",
        "miniimagenet",
        (
            tuple(RawFile(f"mini-imagenet-cache-{s}.pkl") for s in ("train", "val", "test")),
            (RawFile("miniImageNet", folder=True),),
        ),
        note="no public direct URL; provide the pickle caches or class folders via a mirror",
    ),
    "omniglot_small": Source(
        "omniglot_small",
        "omniglot-background-small",
        (
            tuple(
                RawFile(f"images_background_small{k}.zip", (digest,),
                        (f"https://github.com/brendenlake/omniglot/raw/master/python/images_background_small{k}.zip",))
                for k, digest in [
                    (1, "f38eb80f801274ac2b4dff5b24289016bfaba4a7d5bb50deebf27104ad6cb8a4"),
                    (2, "3ccaa407515a8778e5d0861875af38b17e418f301ad5bb3b5a6b65d901a41c7f"),
                ]
            ),
        ),
    ),
}


def get_source(name: str) -> Source:
    try:
        return SOURCES[name]
    except KeyError:
        raise KeyError(f"unknown dataset source {name!r}; known: {', '.join(sorted(SOURCES))}") from None


def sha256sum(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def verify(path: Path, spec: RawFile) -> str:
    """Return the file's sha256; raise DataCorrupt if it matches none of the known digests."""
    digest = sha256sum(path)
    if spec.sha256 and digest not in spec.sha256:
        raise DataCorrupt(
            f"{path}: sha256 mismatch for {spec.name}: expected {' or '.join(spec.sha256)}, "
            f"found {digest}. The file is corrupt, truncated or not the dataset's; "
            f"delete or replace it and run again."
        )
    return digest


def default_cache() -> Path:
    return Path(os.environ.get("LRSC_CACHE", Path.home() / ".cache" / "deepsc"))


def mirror_dirs() -> list[Path]:
    return [Path(p) for p in os.environ.get("LRSC_DATA_MIRROR", "").split(":") if p]


def _local_candidates(src: Source, spec: RawFile, cache: Path, mirrors, system: bool):
    yield "cache", cache / src.name / spec.name
    for m in mirrors:
        yield "mirror", m / src.folder / spec.name
        yield "mirror", m / spec.name
    if system:
        for d in src.system_dirs:
            yield "system", Path(d) / spec.name


def _download(url: str, dest: Path, timeout: float, retries: int) -> None:
    from tqdm import tqdm

    last = None
    for attempt in range(retries + 1):
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp, atomic_path(dest) as tmp:
                total = int(resp.headers.get("Content-Length") or 0) or None
                with open(tmp, "wb") as fh, tqdm(total=total, unit="B", unit_scale=True,
                                                 desc=dest.name, leave=False) as bar:
                    while block := resp.read(1 << 16):
                        fh.write(block)
                        bar.update(len(block))
            return
        except OSError as exc:  # URLError, timeouts, connection refused
            last = exc
            if attempt < retries:
                time.sleep(1.0 * (attempt + 1))
    raise OSError(f"{url}: {last}")


def resolve(source: str, dest: Path, *, cache: Path | None = None, mirrors=None,
            system: bool = True, download: bool = True, timeout: float = 10.0,
            retries: int = 1) -> dict:
    """Put one complete, verified set of the source's raw files into ``dest``.

    Returns a provenance record ``{file: {"sha256", "from"}}``. Raises DataUnavailable
    listing every place tried, or DataCorrupt for a file that fails verification.
    """
    src = get_source(source)
    cache = default_cache() if cache is None else Path(cache)
    mirrors = mirror_dirs() if mirrors is None else [Path(m) for m in mirrors]
    tried: list[str] = []
    for files in src.alternatives:
        found = {}
        for spec in files:
            hit = next(((kind, p) for kind, p in _local_candidates(src, spec, cache, mirrors, system)
                        if (p.is_dir() if spec.folder else p.is_file())), None)
            if hit is None:
                tried.extend(f"{kind} {p}" for kind, p in _local_candidates(src, spec, cache, mirrors, system))
                break
            found[spec.name] = (spec, *hit)
        else:  # every file of this alternative is on disk
            return _install(found, dest, cache / src.name)
    if download:
        for files in src.alternatives:
            if not all(spec.urls for spec in files):
                continue
            try:
                for spec in files:
                    target = cache / src.name / spec.name
                    if not target.is_file():
                        _download(spec.urls[0], target, timeout, retries)
                        try:
                            verify(target, spec)
                        except DataCorrupt:
                            target.unlink()
                            raise
                return resolve(source, dest, cache=cache, mirrors=[], system=False, download=False)
            except OSError as exc:
                tried.append(f"download {exc}")
    raise DataUnavailable(
        f"dataset {source!r}: no source provides {' + '.join(s.name for s in src.alternatives[0])}. "
        f"Tried: {'; '.join(tried) or 'nothing'}. Fix: put the files in a folder and set "
        f"LRSC_DATA_MIRROR to it (e.g. LRSC_DATA_MIRROR=../shared/data), copy them into "
        f"{cache / src.name}, or connect to the network."
    )


def _install(found: dict, dest: Path, cache_dir: Path) -> dict:
    """Verify and copy the files into ``dest``; files with a known sha256 found in a mirror or
    system package are also kept in the project cache, so later runs find them without it."""
    dest.mkdir(parents=True, exist_ok=True)
    record = {}
    for name, (spec, kind, path) in found.items():
        if spec.folder:
            target = dest / name
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(path, target)
            record[name] = {"sha256": None, "from": f"{kind}: {path}", "folder": True}
            continue
        digest = verify(path, spec)
        with atomic_path(dest / name) as tmp:
            shutil.copyfile(path, tmp)
        if kind != "cache" and spec.sha256:  # only bytes proven right are kept
            with atomic_path(cache_dir / name) as tmp:
                shutil.copyfile(path, tmp)
        record[name] = {"sha256": digest, "from": f"{kind}: {path}"}
    return record
