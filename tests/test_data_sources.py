"""Loaders of the datasets not kept beside the project (notMNIST, miniImageNet) and of the
others' alternative layouts, on fixtures built here in the canonical layouts."""
import io
import pickle
import tarfile
import zipfile

import numpy as np
import pytest
from PIL import Image

from deepsc.data import DataCorrupt, loaders
from deepsc.data.features import tfidf_svd_shared, to_grayscale
from deepsc.data.prepare import prepare


def png_bytes(arr, mode="L"):
    buf = io.BytesIO()
    Image.fromarray(arr.astype(np.uint8), mode=mode).save(buf, format="PNG")
    return buf.getvalue()


def add(tf, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tf.addfile(info, io.BytesIO(data))


def notmnist_tar(path, per_class=3, classes="ABCDEFGHIJ", bad=True):
    rng = np.random.default_rng(0)
    with tarfile.open(path, "w:gz") as tf:
        for c in classes:
            for k in range(per_class):
                add(tf, f"notMNIST_small/{c}/font{k}.png", png_bytes(rng.integers(0, 256, (28, 28))))
        if bad:  # like A/RGVtb2NyYXRpY2FCb2xkT2xkc3R5bGUgQm9sZC50dGY=.png in the real set
            add(tf, "notMNIST_small/A/broken.png", b"\x89PNG\r\n\x1a\n not really")
    return path


def test_notmnist_tar_skips_unreadable_and_counts(tmp_path):
    X, y, skipped = loaders.load_notmnist(notmnist_tar(tmp_path / "notMNIST_small.tar.gz"))
    assert X.shape == (30, 28, 28) and X.max() <= 1 and np.bincount(y).tolist() == [3] * 10
    assert skipped == ["notMNIST_small/A/broken.png"]


def test_notmnist_folders_and_missing_class(tmp_path):
    root = tmp_path / "notMNIST_small"
    for c in "ABCDEFGHI":  # J is missing
        (root / c).mkdir(parents=True)
        (root / c / "x.png").write_bytes(png_bytes(np.zeros((28, 28))))
    with pytest.raises(DataCorrupt, match=r"notMNIST_small: notMNIST class folder\(s\) \['J'\]"):
        loaders.load_notmnist(root)
    (root / "J").mkdir()
    (root / "J" / "x.png").write_bytes(png_bytes(np.zeros((28, 28))))
    assert len(loaders.load_notmnist(root)[0]) == 10


def test_prepare_notmnist_samples_and_reports_skips(tmp_path):
    raw = tmp_path / "notmnist"
    raw.mkdir()
    notmnist_tar(raw / "notMNIST_small.tar.gz", per_class=4)
    cfg = {"source": "notmnist", "kind": "image", "n_clusters": 10, "n_per_class": 2, "size": 32}
    prep = prepare("nm", cfg, lambda s: tmp_path / s)
    assert prep.X.shape == (20, 1, 32, 32) and prep.info["skipped_unreadable"] == 1
    with pytest.raises(ValueError, match=r"data.datasets.nm: n_per_class=5 .*lower n_per_class"):
        prepare("nm", {**cfg, "n_per_class": 5}, lambda s: tmp_path / s)


def test_miniimagenet_pickle_and_folders(tmp_path):
    rng = np.random.default_rng(0)
    data = rng.integers(0, 256, (6, 84, 84, 3), dtype=np.uint8)
    with open(tmp_path / "mini-imagenet-cache-train.pkl", "wb") as fh:
        pickle.dump({"image_data": data, "class_dict": {"n01": [0, 1, 2], "n02": [3, 4, 5]}}, fh)
    X, y, names = loaders.load_miniimagenet(tmp_path)
    assert X.shape == (6, 84, 84, 3) and names == ("n01", "n02") and y.tolist() == [0, 0, 0, 1, 1, 1]
    g = to_grayscale(X)
    assert g.shape == (6, 84, 84) and 0 <= g.min() and g.max() <= 1
    folders = tmp_path / "folders"
    for wnid in ("n03", "n04"):
        (folders / wnid).mkdir(parents=True)
        Image.fromarray(data[0]).save(folders / wnid / "a.jpg")
    X, y, names = loaders.load_miniimagenet(folders)
    assert X.shape == (2, 84, 84, 3) and names == ("n03", "n04")
    (tmp_path / "bad.pkl").write_bytes(b"not a pickle")
    with pytest.raises(DataCorrupt, match="bad.pkl: not a miniImageNet cache"):
        loaders.load_miniimagenet(tmp_path / "bad.pkl")


def test_omniglot_zips_dedupe_and_invert(tmp_path):
    img = np.full((105, 105), 255)
    img[50, 50] = 0  # one black stroke pixel
    for k, alphabets in [(1, ["Greek", "Korean"]), (2, ["Greek", "Tagalog"])]:
        with zipfile.ZipFile(tmp_path / f"images_background_small{k}.zip", "w") as zf:
            for a in alphabets:
                for ch in (1, 2):
                    for d in (1, 2):
                        zf.writestr(f"images_background_small{k}/{a}/character{ch:02d}/{ch}_{d:02d}.png",
                                    png_bytes(img))
    X, y, names, skipped = loaders.load_omniglot(sorted(tmp_path.glob("*.zip")))
    assert len(names) == 6 and len(X) == 12  # Greek counted once
    assert X[0, 50, 50] == 1.0 and X[0, 0, 0] == 0.0 and not skipped


def news20_tar(path, scale=1.0, drop_group=None):
    with tarfile.open(path, "w:gz") as tf:
        for g, (ntr, nte) in loaders.NEWS20_COUNTS.items():
            if g == drop_group:
                continue
            for split, n in (("train", ntr), ("test", nte)):
                for k in range(int(n * scale)):
                    add(tf, f"20news-bydate-{split}/{g}/{k}",
                        f"From: a@b\nSubject: {g}\n\n{g.replace('.', ' ')} words {k % 7}".encode("latin-1"))
    return path


@pytest.fixture(scope="module")
def news20(tmp_path_factory):
    return news20_tar(tmp_path_factory.mktemp("n20") / "20news-bydate.tar.gz")


def test_newsgroups20_counts(news20):
    docs, y, split, groups = loaders.load_newsgroups20(news20)
    assert len(docs) == 18846 and int((split == 0).sum()) == 11314 and len(groups) == 20


def test_newsgroups20_empty_document_is_an_error(tmp_path):
    path = tmp_path / "20news-bydate.tar.gz"
    with tarfile.open(path, "w:gz") as tf:
        add(tf, "20news-bydate-train/sci.med/1", b"fine text")
        add(tf, "20news-bydate-train/sci.med/2", b"  \n")
    with pytest.raises(DataCorrupt, match=r"20news-bydate.tar.gz: an empty document in "
                                          r"20news-bydate-train/sci.med"):
        loaders.load_newsgroups20(path)


def test_newsgroups20_incomplete_copy_is_an_error(tmp_path):
    path = news20_tar(tmp_path / "20news-bydate.tar.gz", scale=0.01, drop_group="sci.med")
    with pytest.raises(DataCorrupt, match=r"20news-bydate.tar.gz: 20 Newsgroups .* counts differ.*sci.med"):
        loaders.load_newsgroups20(path)


def test_news20_target_meta_split_and_shared_space(news20, tmp_path):
    raw = tmp_path / "newsgroups20"
    raw.mkdir()
    (raw / "20news-bydate.tar.gz").symlink_to(news20)
    cfg = {"source": "newsgroups20", "kind": "text", "n_clusters": 10, "target_groups": 10,
           "groups_seed": 3, "svd_dim": 8, "min_df": 1, "max_df": 1.0, "meta": "newsgroups20"}
    prep = prepare("news20", cfg, lambda s: tmp_path / s)
    target, meta = prep.info["target_groups"], prep.info["meta_groups"]
    assert len(target) == 10 and len(meta) == 10 and not set(target) & set(meta)
    assert prep.X.shape[1] == prep.meta_X.shape[1] == 8
    assert len(prep.X) + len(prep.meta_X) == 18846
    again = prepare("news20", cfg, lambda s: tmp_path / s)
    assert again.info["target_groups"] == target  # the draw is recorded by its seed


def test_shared_space_fit_on_variants():
    t = ["apple banana", "banana cherry", "apple cherry", "cherry apple banana"]
    m = ["dog cat", "cat mouse", "dog mouse apple", "mouse banana"]
    for fit_on in ("union", "meta", "target"):
        X, M, info = tfidf_svd_shared(t, m, dim=2, seed=0, fit_on=fit_on, min_df=1, max_df=1.0)
        assert X.shape == (4, 2) and M.shape == (4, 2) and info["fit_on"] == fit_on
    with pytest.raises(ValueError, match="fit_on"):
        tfidf_svd_shared(t, m, dim=2, seed=0, fit_on="both")


def test_bbc_extracted_folder(tmp_path):
    from test_data import bbc_archive

    arc = bbc_archive(tmp_path / "bbc-fulltext.zip", fmt="zip")
    with zipfile.ZipFile(arc) as zf:
        zf.extractall(tmp_path / "x")
    docs, y, _ = loaders.load_bbc(tmp_path / "x" / "bbc")
    assert len(docs) == 2225
