import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from deepsc.metrics import accuracy, scores, summarize


def test_accuracy_hand_worked_case():
    # classes 0,0,0,1,1,2 ; clusters 1,1,2,0,0,0. Best matching: 1->0 (2 hits), 0->1 (2 hits),
    # 2->2 (0 hits) or 2->... total 4/6 beats any other assignment (e.g. 0->2 gives 1 + 2 = 3).
    y = [0, 0, 0, 1, 1, 2]
    p = [1, 1, 2, 0, 0, 0]
    assert accuracy(y, p) == pytest.approx(4 / 6)


def test_accuracy_invariant_to_label_permutation():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 5, 200)
    p = np.where(rng.random(200) < 0.7, y, rng.integers(0, 5, 200))
    perm = rng.permutation(5)
    assert accuracy(y, perm[p]) == pytest.approx(accuracy(y, p))
    assert accuracy(y, perm[y]) == 1.0


def test_accuracy_shape_mismatch():
    with pytest.raises(ValueError, match="shape"):
        accuracy([0, 1], [0, 1, 1])


def test_nmi_ari_agree_with_sklearn():
    rng = np.random.default_rng(1)
    y, p = rng.integers(0, 4, 100), rng.integers(0, 6, 100)
    s = scores(y, p)
    assert s["nmi"] == pytest.approx(normalized_mutual_info_score(y, p))
    assert s["ari"] == pytest.approx(adjusted_rand_score(y, p))


def test_summarize_mean_std():
    s = summarize([{"acc": 0.5, "nmi": 0.1, "ari": 0.0}, {"acc": 0.7, "nmi": 0.3, "ari": 0.2}])
    assert s["acc"] == pytest.approx(0.6) and s["acc_std"] == pytest.approx(0.1)
    assert s["nmi_per_seed"] == [0.1, 0.3]


def test_knn_agreement_counts_same_label_neighbours():
    from deepsc.metrics import knn_agreement

    # two tight groups on orthogonal axes: every neighbour within a group shares the label
    F = np.array([[1, 0.01], [1, 0.02], [1, 0.03], [0.01, 1], [0.02, 1], [0.03, 1]])
    y = np.array([0, 0, 0, 1, 1, 1])
    assert knn_agreement(F, y, k=2) == 1.0
    # with k = 3 each point's third neighbour is in the other group: 2 of 3 agree
    assert knn_agreement(F, y, k=3) == pytest.approx(2 / 3)
    # scale of a row does not matter (cosine geometry)
    assert knn_agreement(F * np.arange(1, 7)[:, None], y, k=2) == 1.0
