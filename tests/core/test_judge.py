"""The Kayenta-like judge: Mann-Whitney U against known values, then the scoring."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from progressive.core._judge import (
    Classification,
    Direction,
    MetricConfig,
    _u_distribution,
    classify_metric,
    judge,
    mann_whitney_u,
)

C = Classification


def sample_with_u(u_values: list[int], n_baseline: int) -> tuple[list[float], list[float]]:
    """A canary sample whose i-th value beats exactly u_values[i] baseline values
    (baseline 1..n), all values distinct: U is sum(u_values)."""
    baseline = [float(b) for b in range(1, n_baseline + 1)]
    canary = [k + (j + 1) / (len(u_values) + 1) for j, k in enumerate(u_values)]
    return canary, baseline


# -- Mann-Whitney U ---------------------------------------------------------------------------


def test_exact_p_values_computed_by_hand() -> None:
    # [4,5,6] vs [1,2,3]: the canary wins all 9 pairs; only 1 of the C(6,3) = 20
    # orderings is that extreme, on each side: p = 2/20 = 0.1
    result = mann_whitney_u([4, 5, 6], [1, 2, 3])
    assert (result.u, result.exact, result.p_value) == (9.0, True, pytest.approx(0.1))
    assert result.canary_higher
    # 4 vs 4 separated: 2 / C(8,4) = 2/70
    assert mann_whitney_u([5, 6, 7, 8], [1, 2, 3, 4]).p_value == pytest.approx(2 / 70)
    # U = 1 for n = 3, 3: P(U <= 1) = (1 + 1) / 20, two-sided 0.2
    assert mann_whitney_u([1.5, 0.5, 0.7], [1, 2, 3]).p_value == pytest.approx(0.2)
    # the same samples swapped: the same p, the other direction
    swapped = mann_whitney_u([1, 2, 3], [4, 5, 6])
    assert (swapped.u, swapped.p_value, swapped.canary_lower) == (0.0, pytest.approx(0.1), True)


def test_the_null_distribution_counts_orderings() -> None:
    # coefficients of the Gaussian binomial [6 choose 3]_q
    assert _u_distribution(3, 3) == [1, 1, 2, 3, 3, 3, 3, 2, 1, 1]
    assert sum(_u_distribution(10, 7)) == math.comb(17, 7)


@pytest.mark.parametrize(
    ("n1", "n2", "critical"),
    # Two-sided alpha = 0.05 critical values of U from the standard Mann-Whitney table
    # (e.g. Zar, Biostatistical Analysis, table B.11): U <= critical is significant.
    [(5, 5, 2), (6, 6, 5), (7, 7, 8), (8, 8, 13), (10, 10, 23), (20, 20, 127), (5, 10, 8)],
)
def test_published_critical_values(n1: int, n2: int, critical: int) -> None:
    def p_at(u: int) -> float:
        ks = [n2] * (u // n2) + ([u % n2] if u % n2 else [])
        ks += [0] * (n1 - len(ks))
        canary, baseline = sample_with_u(ks, n2)
        result = mann_whitney_u(canary, baseline)
        assert result.exact and result.u == u
        return result.p_value

    assert p_at(critical) <= 0.05 < p_at(critical + 1)


def test_normal_approximation_with_ties_by_hand() -> None:
    # canary [1, 2, 2, 3], baseline [3, 4, 4, 5]; ranks of the 8 values:
    #   1 -> 1, 2 2 -> 2.5 2.5, 3 3 -> 4.5 4.5, 4 4 -> 6.5 6.5, 5 -> 8
    # canary rank sum R = 1 + 2.5 + 2.5 + 4.5 = 10.5, U = R - 4*5/2 = 0.5, mean 8;
    # ties: three pairs, sum(t^3 - t) = 18; var = 16/12 * (9 - 18/56) = 11.5714
    # z = (|0.5 - 8| - 0.5) / sqrt(11.5714) = 2.0578; p = 2 * (1 - Phi(2.0578)) = 0.0396
    result = mann_whitney_u([1, 2, 2, 3], [3, 4, 4, 5])
    assert not result.exact and result.u == 0.5
    assert result.p_value == pytest.approx(0.0396, abs=2e-4)


def test_large_samples_use_the_normal_approximation() -> None:
    canary = [float(i) for i in range(60)]
    baseline = [i + 0.5 for i in range(60)]
    result = mann_whitney_u(canary, baseline)
    assert not result.exact and result.p_value > 0.5


def test_all_tied_is_no_evidence() -> None:
    assert mann_whitney_u([1, 1, 1], [1, 1]).p_value == 1.0


def test_nan_values_are_dropped_and_empty_samples_refused() -> None:
    assert mann_whitney_u([4, 5, 6, math.nan], [1, 2, 3]).n_canary == 3
    with pytest.raises(ValueError, match="at least one value"):
        mann_whitney_u([math.nan], [1.0])
    with pytest.raises(ValueError, match="exact test"):
        mann_whitney_u([1, 2], [2, 3], exact=True)


@given(
    st.lists(st.integers(0, 20), min_size=1, max_size=12),
    st.lists(st.integers(0, 20), min_size=1, max_size=12),
)
def test_p_values_are_probabilities_and_symmetric(x: list[int], y: list[int]) -> None:
    a, b = mann_whitney_u(x, y), mann_whitney_u(y, x)
    assert 0 < a.p_value <= 1
    assert a.p_value == pytest.approx(b.p_value)
    assert a.u + b.u == len(x) * len(y)


# -- one metric -------------------------------------------------------------------------------

BASELINE = [100.0 + (i % 7) for i in range(30)]
SLOWER = [130.0 + (i % 7) for i in range(30)]
FASTER = [70.0 + (i % 7) for i in range(30)]


def test_a_significant_increase_is_high() -> None:
    verdict = classify_metric(MetricConfig("latency"), SLOWER, BASELINE)
    assert (verdict.classification, verdict.failed) == (C.HIGH, True)
    assert verdict.mean_ratio == pytest.approx(1.3, rel=0.01)
    assert verdict.p_value is not None and verdict.p_value < 1e-6


def test_the_direction_decides_what_hurts() -> None:
    increase = MetricConfig("latency", direction=Direction.INCREASE)
    verdict = classify_metric(increase, FASTER, BASELINE)
    assert (verdict.classification, verdict.failed) == (C.PASS, False)
    assert "harmless direction" in verdict.reason
    assert classify_metric(increase, SLOWER, BASELINE).classification is C.HIGH
    decrease = MetricConfig("throughput", direction="decrease")  # type: ignore[arg-type]
    assert classify_metric(decrease, FASTER, BASELINE).classification is C.LOW
    assert classify_metric(decrease, SLOWER, BASELINE).classification is C.PASS


def test_an_allowed_increase_tolerates_a_small_effect() -> None:
    tolerant = MetricConfig("latency", allowed_increase=1.5)
    assert classify_metric(tolerant, SLOWER, BASELINE).classification is C.PASS
    strict = MetricConfig("latency", allowed_increase=1.2)
    assert classify_metric(strict, SLOWER, BASELINE).classification is C.HIGH


def test_no_significant_difference_passes() -> None:
    same = [100.0 + ((i + 3) % 7) for i in range(30)]
    verdict = classify_metric(MetricConfig("latency"), same, BASELINE)
    assert verdict.classification is C.PASS and verdict.p_value is not None
    assert verdict.p_value > 0.02


def test_the_confidence_is_configurable() -> None:
    # p = 0.1 (three against three, separated): significant at 0.85, not at 0.98
    canary, baseline = [4.0, 5.0, 6.0], [1.0, 2.0, 3.0]
    assert classify_metric(MetricConfig("m"), canary, baseline).classification is C.PASS
    lax = classify_metric(MetricConfig("m"), canary, baseline, confidence=0.85)
    assert lax.classification is C.HIGH


def test_no_data() -> None:
    verdict = classify_metric(MetricConfig("m"), [], BASELINE)
    assert (verdict.classification, verdict.failed) == (C.NODATA, False)
    must = classify_metric(MetricConfig("m", must_have_data=True), [math.nan], BASELINE)
    assert (must.classification, must.failed) == (C.NODATA, True)


# -- the judgement ----------------------------------------------------------------------------


def test_a_clean_canary_passes() -> None:
    same = [100.0 + ((i + 3) % 7) for i in range(30)]
    result = judge({"latency": (same, BASELINE), "errors": (same, BASELINE)})
    assert (result.score, result.classification, result.passed) == (100.0, "Pass", True)
    assert result.reason == "every metric passed"


def test_the_score_is_the_weighted_pass_ratio() -> None:
    same = [100.0 + ((i + 3) % 7) for i in range(30)]
    samples = {"a": (same, BASELINE), "b": (same, BASELINE), "c": (SLOWER, BASELINE)}
    result = judge(samples)
    assert result.score == pytest.approx(200 / 3)
    assert result.classification == "Fail" and result.reason == "failing: c"
    weighted = judge(samples, [MetricConfig("a", weight=4), MetricConfig("b", weight=5)])
    assert weighted.score == pytest.approx(90.0)
    assert weighted.classification == "Marginal"
    assert judge(samples, {"c": MetricConfig("c", weight=0.1)}, pass_threshold=90).passed


def test_a_failed_critical_metric_fails_everything() -> None:
    same = [100.0 + ((i + 3) % 7) for i in range(30)]
    samples = {f"m{i}": (same, BASELINE) for i in range(9)} | {"errors": (SLOWER, BASELINE)}
    assert judge(samples).score == pytest.approx(90.0)
    result = judge(samples, [MetricConfig("errors", critical=True)])
    assert (result.score, result.classification) == (0.0, "Fail")
    assert result.reason == "critical metric failed: errors"


def test_metrics_without_data_are_left_out_until_half_have_none() -> None:
    same = [100.0 + ((i + 3) % 7) for i in range(30)]
    three = {"a": (same, BASELINE), "b": (same, BASELINE), "c": ([], BASELINE)}
    result = judge(three)
    assert (result.score, result.classification) == (100.0, "Pass")
    two = {"a": (same, BASELINE), "c": ([], BASELINE)}
    assert judge(two).classification == "Fail"
    assert judge(two).reason == "1 of 2 metrics have no data"


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="no metrics"):
        judge({})
    with pytest.raises(ValueError, match="thresholds"):
        judge({"a": ([1.0], [1.0])}, marginal_threshold=99, pass_threshold=90)
    with pytest.raises(ValueError, match="without samples"):
        judge({"a": ([1.0], [1.0])}, [MetricConfig("b")])
    with pytest.raises(ValueError, match="confidence"):
        judge({"a": ([1.0], [1.0])}, confidence=1.0)
    with pytest.raises(ValueError, match="weight"):
        MetricConfig("a", weight=0)
