import numpy as np
import pytest

from brainlatent import metrics


def test_perfect_predictions_rank_first():
    emb = np.random.default_rng(0).normal(size=(30, 8))
    ranks = metrics.retrieval_ranks(emb * 2.0, emb)  # cosine ignores scale
    assert (ranks == 1).all()
    rows = {r["metric"]: r for r in metrics.retrieval_metrics(emb, emb, top_k=(1, 5))}
    assert rows["top1"]["value"] == 1.0 and rows["top5"]["value"] == 1.0
    assert rows["relative_median_rank"]["value"] == pytest.approx(1 / 30)
    assert rows["top5"]["chance"] == pytest.approx(5 / 30)
    assert rows["top1"]["n_candidates"] == 30


def test_random_predictions_sit_at_chance():
    gen = np.random.default_rng(1)
    candidates = gen.normal(size=(100, 16))
    accuracies = [
        metrics.top_k_accuracy(metrics.retrieval_ranks(gen.normal(size=(100, 16)), candidates), 5)
        for _ in range(50)
    ]
    assert np.mean(accuracies) == pytest.approx(0.05, abs=0.01)


def test_ranks_count_ties_against_the_prediction():
    candidates = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    ranks = metrics.retrieval_ranks(np.array([[1.0, 0.0]]), candidates, targets=[0])
    assert ranks.tolist() == [2]


def test_chance_levels_are_exact():
    assert metrics.chance_level("top5", 200) == 0.025
    assert metrics.chance_level("top5", 3) == 1.0
    assert metrics.chance_level("relative_median_rank", 4) == pytest.approx(2.5 / 4)
    with pytest.raises(ValueError, match="unknown metric"):
        metrics.chance_level("auc", 10)


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="embedding dims differ"):
        metrics.retrieval_ranks(np.zeros((3, 4)), np.zeros((3, 5)))
    with pytest.raises(ValueError, match="NaN"):
        metrics.retrieval_ranks(np.full((3, 4), np.nan), np.ones((3, 4)))
    with pytest.raises(ValueError, match="2D"):
        metrics.retrieval_ranks(np.zeros(3), np.zeros((3, 1)))


def test_ranks_follow_explicit_targets():
    """``targets`` names each prediction's true candidate (row of the candidates)."""
    predictions = np.eye(2)
    candidates = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    assert metrics.retrieval_ranks(predictions, candidates, targets=[1, 0]).tolist() == [2, 3]


def test_bootstrap_interval_covers_the_test_images_sampling():
    """The 95 % interval of top-5 is about as wide as the binomial one for that many test
    images, contains the value, is the same every call, and is zero-width for a perfect
    decoder; a table's rows carry it."""
    gen = np.random.default_rng(3)
    ranks = np.where(gen.random(100) < 0.3, 1, 50)  # top-5 0.3 over 100 test images
    low, high = metrics.bootstrap_interval(ranks, lambda r: metrics.top_k_accuracy(r, 5))
    value = metrics.top_k_accuracy(ranks, 5)
    half_width = 1.96 * np.sqrt(value * (1 - value) / 100)  # about 0.09
    assert low < value < high
    assert high - low == pytest.approx(2 * half_width, rel=0.15)
    assert (low, high) == metrics.bootstrap_interval(ranks, lambda r: metrics.top_k_accuracy(r, 5))
    emb = gen.normal(size=(30, 8))
    for row in metrics.retrieval_metrics(emb, emb, top_k=(5,)):
        assert row["ci_low"] == row["value"] == row["ci_high"]
    noisy = emb + gen.normal(scale=1.5, size=emb.shape)
    for row in metrics.retrieval_metrics(noisy, emb, top_k=(1, 5)):
        assert row["ci_low"] <= row["value"] <= row["ci_high"] and row["ci_low"] < row["ci_high"]
