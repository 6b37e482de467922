"""Data layer on fixtures the tests build: sources, verification, loaders, features."""
import gzip
import hashlib
import io
import tarfile
import zipfile

import numpy as np
import pytest

from deepsc.data import DataCorrupt, DataUnavailable, loaders, resolve
from deepsc.data import sources as S
from deepsc.data.features import resize_images, sample_per_class, tfidf_svd


def idx_bytes(arr: np.ndarray) -> bytes:
    arr = np.asarray(arr, dtype=np.uint8)
    header = bytes([0, 0, 8, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    return gzip.compress(header + arr.tobytes())


def write_idx_set(folder, prefix, images, labels):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{prefix}-images-idx3-ubyte.gz").write_bytes(idx_bytes(images))
    (folder / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(idx_bytes(labels))


def bbc_archive(path, counts=None, fmt="tar"):
    counts = counts or loaders.BBC_COUNTS
    files = {"bbc/README.TXT": b"readme"}
    for c, n in counts.items():
        for k in range(n):
            files[f"bbc/{c}/{k + 1:03d}.txt"] = f"{c} story {k} about {c} things".encode()
    files["bbc/sport/199.txt"] = b"price \xa3 5"  # the known Latin-1 byte
    if fmt == "zip":
        with zipfile.ZipFile(path, "w") as zf:
            for name, data in files.items():
                zf.writestr(name, data)
    else:
        with tarfile.open(path, "w:gz") as tf:
            for name, data in files.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    return path


def test_read_idx_roundtrip_and_split(tmp_path):
    images = np.arange(3 * 28 * 28).reshape(3, 28, 28) % 256
    write_idx_set(tmp_path, "t10k", images, [1, 0, 2])
    X, y = loaders.load_idx_split(tmp_path, "test")
    np.testing.assert_array_equal(X, images)
    np.testing.assert_array_equal(y, [1, 0, 2])


def test_read_idx_truncated_and_bad_magic(tmp_path):
    good = idx_bytes(np.zeros((4, 28, 28)))
    raw = gzip.decompress(good)
    (tmp_path / "trunc.gz").write_bytes(gzip.compress(raw[:-100]))
    with pytest.raises(DataCorrupt, match="trunc.gz.*truncated"):
        loaders.read_idx(tmp_path / "trunc.gz")
    (tmp_path / "cut.gz").write_bytes(good[: len(good) // 2])
    with pytest.raises(DataCorrupt, match="cut.gz.*gzip"):
        loaders.read_idx(tmp_path / "cut.gz")
    (tmp_path / "magic.gz").write_bytes(gzip.compress(b"\x00\x00\x0d\x03" + raw[4:]))
    with pytest.raises(DataCorrupt, match="magic"):
        loaders.read_idx(tmp_path / "magic.gz")


@pytest.mark.parametrize("fmt", ["tar", "zip"])
def test_load_bbc_counts_and_encoding(tmp_path, fmt):
    path = bbc_archive(tmp_path / f"bbc-fulltext.{'zip' if fmt == 'zip' else 'tar.gz'}", fmt=fmt)
    docs, y, classes = loaders.load_bbc(path)
    assert len(docs) == 2225 and np.bincount(y).tolist() == list(loaders.BBC_COUNTS.values())
    assert any("£" in d for d in docs)


def test_load_bbc_missing_class_is_an_error(tmp_path):
    counts = dict(loaders.BBC_COUNTS, tech=0)
    path = bbc_archive(tmp_path / "bbc-fulltext.tar.gz", counts=counts)
    with pytest.raises(DataCorrupt, match="per class"):
        loaders.load_bbc(path)


def test_load_bbc_truncated_archive(tmp_path):
    path = bbc_archive(tmp_path / "bbc-fulltext.tar.gz")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(DataCorrupt, match="bbc-fulltext.tar.gz"):
        loaders.load_bbc(path)


def fake_source(monkeypatch, payload: bytes, urls=()):
    spec = S.RawFile("thing.bin", (hashlib.sha256(payload).hexdigest(),), urls)
    src = S.Source("thing", "thing-folder", ((spec,),))
    monkeypatch.setitem(S.SOURCES, "thing", src)
    return src


def test_resolve_order_cache_then_mirror(tmp_path, monkeypatch):
    payload = b"good bytes"
    fake_source(monkeypatch, payload)
    mirror = tmp_path / "mirror" / "thing-folder"
    mirror.mkdir(parents=True)
    (mirror / "thing.bin").write_bytes(payload)
    rec = resolve("thing", tmp_path / "out", cache=tmp_path / "cache", mirrors=[tmp_path / "mirror"],
                  download=False)
    assert (tmp_path / "out" / "thing.bin").read_bytes() == payload
    assert rec["thing.bin"]["from"].startswith("mirror")
    # a verified file from a mirror is kept in the project cache, which is tried first next time
    assert (tmp_path / "cache" / "thing" / "thing.bin").read_bytes() == payload
    rec = resolve("thing", tmp_path / "out2", cache=tmp_path / "cache", mirrors=[tmp_path / "mirror"],
                  download=False)
    assert rec["thing.bin"]["from"].startswith("cache")


def test_corrupt_file_in_mirror_is_a_clear_error_and_leaves_nothing(tmp_path, monkeypatch):
    fake_source(monkeypatch, b"good bytes")
    (tmp_path / "mirror").mkdir()
    (tmp_path / "mirror" / "thing.bin").write_bytes(b"good byte")  # truncated
    with pytest.raises(DataCorrupt, match=r"thing.bin: sha256 mismatch.*expected .* found"):
        resolve("thing", tmp_path / "out", cache=tmp_path / "cache", mirrors=[tmp_path / "mirror"],
                download=False)
    assert not (tmp_path / "out" / "thing.bin").exists()


def test_unavailable_lists_places_and_fix(tmp_path, monkeypatch):
    fake_source(monkeypatch, b"x", urls=("http://127.0.0.1:9/thing.bin",))
    with pytest.raises(DataUnavailable, match=r"(?s)thing.*Tried:.*mirror.*LRSC_DATA_MIRROR"):
        resolve("thing", tmp_path / "out", cache=tmp_path / "cache", mirrors=[tmp_path / "nowhere"],
                download=True, timeout=1, retries=0)


def test_unknown_source_name():
    with pytest.raises(KeyError, match="unknown dataset source 'nope'"):
        resolve("nope", "/tmp/x")


def test_tfidf_svd_shapes_and_norms():
    docs = [f"alpha beta {w} gamma {w}" for w in ["cat", "dog", "fish", "bird"] * 10]
    X, info = tfidf_svd(docs, dim=3, seed=0, min_df=1, max_df=1.0)
    assert X.shape == (40, 3) and np.allclose(np.linalg.norm(X, axis=1), 1, atol=1e-5)
    assert info["n_docs"] == 40 and 0 < info["explained_variance"] <= 1


def test_resize_and_sampling():
    X = resize_images(np.random.default_rng(0).random((5, 28, 28)), 32)
    assert X.shape == (5, 1, 32, 32) and X.min() >= 0 and X.max() <= 1
    y = np.repeat(np.arange(3), 10)
    idx = sample_per_class(y, 4, seed=0)
    assert np.bincount(y[idx]).tolist() == [4, 4, 4]
    np.testing.assert_array_equal(idx, sample_per_class(y, 4, seed=0))
    with pytest.raises(ValueError, match="n_per_class=11"):
        sample_per_class(y, 11, seed=0)
