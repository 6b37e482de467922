"""deepsc.io: atomic writes, the on-demand .npy row reader, peak memory."""
import numpy as np
import pytest

from deepsc.io import NpyRows, atomic_path, peak_rss_mib


def test_npy_rows_slices_equal_the_array(tmp_path):
    x = np.arange(7 * 3 * 2, dtype=np.float32).reshape(7, 3, 2)
    np.save(tmp_path / "x.npy", x)
    rows = NpyRows(tmp_path / "x.npy")
    assert len(rows) == 7 and rows.shape == (7, 3, 2) and rows.dtype == np.float32
    for a, b in [(0, 7), (2, 5), (5, 100), (6, 7), (3, 3), (-2, None)]:
        np.testing.assert_array_equal(rows[a:b], x[a:b])
    got = np.concatenate([rows[s:s + 3] for s in range(0, len(rows), 3)])
    np.testing.assert_array_equal(got, x)
    with pytest.raises(TypeError, match="contiguous slices"):
        rows[[0, 2]]


def test_npy_rows_rejects_truncated_and_foreign_files(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((100, 4), dtype=np.float64))
    data = (tmp_path / "x.npy").read_bytes()
    (tmp_path / "cut.npy").write_bytes(data[:-8])
    with pytest.raises(ValueError, match="cut.npy: truncated"):
        NpyRows(tmp_path / "cut.npy")
    (tmp_path / "txt.npy").write_text("not numpy")
    with pytest.raises(ValueError, match="txt.npy: not a readable .npy"):
        NpyRows(tmp_path / "txt.npy")
    np.save(tmp_path / "f.npy", np.asfortranarray(np.zeros((3, 4))))
    with pytest.raises(ValueError, match="f.npy: rows can only be read"):
        NpyRows(tmp_path / "f.npy")


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.json"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")
    assert not target.exists() and list(tmp_path.iterdir()) == []


def _rss_now_mib():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:")) / 1024


def test_peak_rss_sees_a_new_allocation():
    now = _rss_now_mib()
    x = np.ones(256 * 2**20 // 8)  # 256 MiB, every page touched
    assert peak_rss_mib() >= now + 250
    del x


def test_save_torch_gives_the_same_bytes_under_any_temporary_name(tmp_path):
    """atomic_path's temporary names are random; torch.save given a path names the archive's
    inner folder after the file, so the same weights gave a new DVC hash on every run."""
    import torch

    from deepsc.io import save_torch

    obj = {"state_dict": {"w": torch.arange(6.0).reshape(2, 3)}, "seed": 0}
    for name in ("a.pt", "b.pt"):
        save_torch(obj, tmp_path / name)   # through atomic_path's random temporary names
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "b.pt").read_bytes()
    back = torch.load(tmp_path / "a.pt", weights_only=True)
    assert torch.equal(back["state_dict"]["w"], obj["state_dict"]["w"]) and back["seed"] == 0
    torch.save(obj, tmp_path / "c.pt")   # what the stages did: the bytes depend on the name
    torch.save(obj, tmp_path / "d.pt")
    assert (tmp_path / "c.pt").read_bytes() != (tmp_path / "d.pt").read_bytes()
