"""deepsc.runtime.map_seeds: seeds side by side give what one after the other gives."""
from functools import partial

import numpy as np
import pytest
import torch

from deepsc.finetune import pretrain
from deepsc.runtime import default_workers, map_seeds


def _k1(X, seed):
    res = pretrain(X, "text", arch={"latent_dim": 8}, seed=seed, k1=30, batch_size=16, lr=1e-3,
                   device="cpu", progress=False)
    return res["state_dict"], torch.get_num_threads()


def test_map_seeds_workers_do_not_change_the_results():
    X = np.random.default_rng(0).standard_normal((64, 20)).astype(np.float32)
    fn = partial(_k1, X)
    one = map_seeds(fn, [0, 1, 2], threads=1, workers=1)
    two = map_seeds(fn, [0, 1, 2], threads=1, workers=2)
    assert [t for _, t in one] == [t for _, t in two] == [1, 1, 1]   # every call on one thread
    for (a, _), (b, _) in zip(one, two):
        assert a.keys() == b.keys()
        for k in a:
            assert torch.equal(a[k], b[k]), k       # bit for bit, in the seeds' order
    # different seeds did train differently (the order above is not an accident)
    assert not torch.equal(one[0][0]["encoder.0.weight"], one[1][0]["encoder.0.weight"])


def _boom(seed):
    if seed == 1:
        raise ValueError(f"seed {seed} failed")
    return seed


def test_map_seeds_raises_a_workers_error_and_restores_threads():
    before = torch.get_num_threads()
    with pytest.raises(ValueError, match="seed 1 failed"):
        map_seeds(_boom, [0, 1, 2], threads=1, workers=2)
    assert map_seeds(_boom, [0, 2], threads=1, workers=1) == [0, 2]
    assert torch.get_num_threads() == before


def test_default_workers(monkeypatch):
    monkeypatch.setenv("DEEPSC_WORKERS", "3")
    assert default_workers(5, 1) == 3 and default_workers(2, 1) == 2
    monkeypatch.setenv("DEEPSC_WORKERS", "two")
    with pytest.raises(ValueError, match="DEEPSC_WORKERS"):
        default_workers(5, 1)
    monkeypatch.delenv("DEEPSC_WORKERS")
    assert 1 <= default_workers(5, 1) <= 5 and default_workers(1, 1) == 1
