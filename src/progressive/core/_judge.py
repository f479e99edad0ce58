"""A statistical judge in the manner of Spinnaker's Kayenta (pure): canary vs baseline.

For each metric, the canary's samples are compared with the baseline's (ideally a
baseline deployed at the same time, size and traffic as the canary, not the old stable)
with a two-sided Mann-Whitney U test:

* NaN samples are dropped; a side left empty is ``NoData`` (a failure when the metric
  ``must_have_data``, else left out of the score).
* The difference is *significant* when the p-value is below ``1 - confidence``
  (Kayenta's default confidence is 0.98).
* The effect size is the ratio of the means, canary / baseline.  A significant
  difference is ``High`` when the canary ranks higher and the ratio exceeds
  ``allowed_increase`` (1.0: any increase), ``Low`` when it ranks lower and the ratio is
  under ``allowed_decrease``; otherwise the metric is ``Pass``.
* ``direction`` says which change hurts: ``increase`` (latency, errors: a Low is a
  Pass), ``decrease`` (throughput: a High is a Pass) or ``either``.

The score is the weighted share of passing metrics among those that count, times 100.
A failed ``critical`` metric makes it 0, and half the metrics or more without data fail
the judgement (Kayenta's rules).  The judgement is ``Pass`` at or above
``pass_threshold`` (95), ``Marginal`` at or above ``marginal_threshold`` (75), else
``Fail``.

The test is exact (the null distribution of U, counted) when there are no ties and
both samples hold at most :data:`EXACT_MAX` values; otherwise the normal approximation
with tie and continuity corrections (as SciPy's ``mannwhitneyu(method="asymptotic")``).
Metrics are assumed non-negative, as Kayenta's mean ratio assumes.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Final

import attrs

__all__ = [
    "EXACT_MAX",
    "MAX_SAMPLES",
    "Classification",
    "Direction",
    "Judgement",
    "MannWhitneyResult",
    "MetricConfig",
    "MetricVerdict",
    "classify_metric",
    "judge",
    "mann_whitney_u",
]

#: Largest sample (each side) for which the exact distribution of U is used.
EXACT_MAX: Final = 50
#: Largest sample (each side) judged at all: bounded work.
MAX_SAMPLES: Final = 100_000


class Direction(enum.StrEnum):
    """Which change of a metric fails the canary."""

    INCREASE = "increase"
    DECREASE = "decrease"
    EITHER = "either"


class Classification(enum.StrEnum):
    """One metric's verdict: Pass, High or Low (a significant change in that
    direction), or NoData (too few samples to judge)."""

    PASS = "Pass"
    HIGH = "High"
    LOW = "Low"
    NODATA = "NoData"


@attrs.frozen
class MannWhitneyResult:
    """``u`` is the canary's U: how many (canary, baseline) pairs the canary wins (ties
    count half); its mean under the null hypothesis is ``n_canary * n_baseline / 2``."""

    u: float
    p_value: float
    exact: bool
    n_canary: int
    n_baseline: int

    @property
    def canary_higher(self) -> bool:
        return self.u > self.n_canary * self.n_baseline / 2

    @property
    def canary_lower(self) -> bool:
        return self.u < self.n_canary * self.n_baseline / 2


def _clean(values: Iterable[float], what: str) -> list[float]:
    out = []
    for v in values:
        f = float(v)
        if not math.isnan(f):
            out.append(f)
        if len(out) > MAX_SAMPLES:
            raise ValueError(f"{what}: more than {MAX_SAMPLES} samples")
    return out


def _ranks(values: Sequence[float]) -> tuple[list[float], list[int]]:
    """Ranks from 1 (ties share their average rank) and the sizes of the tie groups."""
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    ties: list[int] = []
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        rank = (i + j) / 2 + 1
        for k in range(i, j + 1):
            ranks[order[k]] = rank
        if j > i:
            ties.append(j - i + 1)
        i = j + 1
    return ranks, ties


def _u_distribution(n1: int, n2: int) -> list[int]:
    """How many of the C(n1+n2, n1) orderings give U = 0, 1, ..., n1*n2.

    The coefficients of the Gaussian binomial [n1+n2 choose n1]_q, built as
    prod_{i=1..n1} (1 - q^(n2+i)) / (1 - q^i) with exact integer arithmetic.
    """
    size = n1 * n2 + 1
    poly = [0] * size
    poly[0] = 1
    for i in range(1, n1 + 1):
        k = n2 + i
        for j in range(size - 1, k - 1, -1):  # times (1 - q^k)
            poly[j] -= poly[j - k]
        for j in range(i, size):  # divided by (1 - q^i)
            poly[j] += poly[j - i]
    return poly


def mann_whitney_u(
    canary: Iterable[float], baseline: Iterable[float], *, exact: bool | None = None
) -> MannWhitneyResult:
    """The two-sided Mann-Whitney U test of ``canary`` against ``baseline``.

    Args:
        exact: True forces the exact test (no ties allowed), False the normal
            approximation; None chooses (exact without ties, both sizes <= EXACT_MAX).

    Raises:
        ValueError: an empty sample (NaN dropped), too many samples, or ``exact=True``
            with ties or samples over EXACT_MAX.
    """
    x, y = _clean(canary, "canary"), _clean(baseline, "baseline")
    n1, n2 = len(x), len(y)
    if not n1 or not n2:
        raise ValueError("both samples need at least one value that is not NaN")
    ranks, ties = _ranks(x + y)
    u = sum(ranks[:n1]) - n1 * (n1 + 1) / 2
    small = n1 <= EXACT_MAX and n2 <= EXACT_MAX
    if exact is None:
        exact = small and not ties
    elif exact and (ties or not small):
        raise ValueError(f"the exact test needs samples without ties of at most {EXACT_MAX}")
    if exact:
        counts = _u_distribution(n1, n2)
        total = sum(counts)
        k = round(u)
        lower = sum(counts[: k + 1]) / total
        upper = sum(counts[k:]) / total
        p = min(1.0, 2 * min(lower, upper))
    else:
        n = n1 + n2
        mean = n1 * n2 / 2
        tie_term = sum(t**3 - t for t in ties) / (n * (n - 1)) if n > 1 else 0.0
        variance = n1 * n2 / 12 * ((n + 1) - tie_term)
        if variance <= 0:
            p = 1.0  # every value tied: no evidence of a difference
        else:
            z = (abs(u - mean) - 0.5) / math.sqrt(variance)
            p = 1.0 if z <= 0 else min(1.0, math.erfc(z / math.sqrt(2)))
    return MannWhitneyResult(u, p, exact, n1, n2)


# -- one metric -------------------------------------------------------------------------------


@attrs.frozen
class MetricConfig:
    """How to judge one metric (Kayenta's per-metric canary config)."""

    name: str
    direction: Direction = Direction.EITHER
    #: Mean ratio (canary / baseline) a significant increase must exceed to be High.
    allowed_increase: float = 1.0
    #: Mean ratio a significant decrease must fall under to be Low.
    allowed_decrease: float = 1.0
    weight: float = 1.0
    #: A failure makes the whole judgement fail (score 0).
    critical: bool = False
    #: No data is a failure rather than left out.
    must_have_data: bool = False

    def __attrs_post_init__(self) -> None:
        if not (math.isfinite(self.weight) and self.weight > 0):
            raise ValueError(f"{self.name}: weight must be positive, got {self.weight!r}")
        if not (self.allowed_increase >= 1.0 and 0 < self.allowed_decrease <= 1.0):
            raise ValueError(
                f"{self.name}: allowed_increase must be >= 1 and allowed_decrease in (0, 1]"
            )
        object.__setattr__(self, "direction", Direction(self.direction))


@attrs.frozen
class MetricVerdict:
    """One metric's result: its classification, whether it fails the canary, and the
    test's figures."""

    name: str
    classification: Classification
    failed: bool
    reason: str
    p_value: float | None = None
    mean_ratio: float | None = None
    canary_mean: float | None = None
    baseline_mean: float | None = None
    test: MannWhitneyResult | None = None


def _mean_ratio(canary_mean: float, baseline_mean: float) -> float:
    if baseline_mean == 0:
        return 1.0 if canary_mean == 0 else math.copysign(math.inf, canary_mean)
    return canary_mean / baseline_mean


def classify_metric(
    config: MetricConfig,
    canary: Iterable[float],
    baseline: Iterable[float],
    *,
    confidence: float = 0.98,
) -> MetricVerdict:
    """Pass, High, Low or NoData for one metric (see the module docstring)."""
    _check_confidence(confidence)
    x, y = _clean(canary, "canary"), _clean(baseline, "baseline")
    if not x or not y:
        side = "canary" if not x else "baseline"
        return MetricVerdict(
            config.name,
            Classification.NODATA,
            config.must_have_data,
            f"no {side} data" + (" (must have data)" if config.must_have_data else ""),
        )
    test = mann_whitney_u(x, y)
    canary_mean, baseline_mean = sum(x) / len(x), sum(y) / len(y)
    ratio = _mean_ratio(canary_mean, baseline_mean)
    significant = test.p_value < 1 - confidence
    label = Classification.PASS
    if significant and test.canary_higher and ratio > config.allowed_increase:
        label = Classification.HIGH
    elif significant and test.canary_lower and ratio < config.allowed_decrease:
        label = Classification.LOW
    hurts = (label is Classification.HIGH and config.direction != Direction.DECREASE) or (
        label is Classification.LOW and config.direction != Direction.INCREASE
    )
    detail = f"p={test.p_value:.4g}, mean ratio {ratio:.4g}"
    if label is Classification.PASS:
        reason = f"no significant change ({detail})"
    elif hurts:
        reason = f"canary {'higher' if label is Classification.HIGH else 'lower'} ({detail})"
    else:
        reason = f"canary {label.lower()} in the harmless direction ({detail})"
        label = Classification.PASS
    return MetricVerdict(
        config.name, label, hurts, reason, test.p_value, ratio, canary_mean, baseline_mean, test
    )


# -- the judgement ----------------------------------------------------------------------------


@attrs.frozen
class Judgement:
    """The judge's answer: the weighted score (0-100), its classification (Pass,
    Marginal or Fail) and every metric's verdict."""

    score: float
    classification: str  # Pass | Marginal | Fail
    metrics: tuple[MetricVerdict, ...]
    reason: str = ""

    @property
    def passed(self) -> bool:
        return self.classification == "Pass"


def _check_confidence(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence!r}")


def judge(
    samples: Mapping[str, tuple[Iterable[float], Iterable[float]]],
    configs: Mapping[str, MetricConfig] | Iterable[MetricConfig] = (),
    *,
    confidence: float = 0.98,
    pass_threshold: float = 95.0,
    marginal_threshold: float = 75.0,
) -> Judgement:
    """Judge a canary: ``samples`` maps each metric name to ``(canary, baseline)``.

    Metrics without a config in ``configs`` get the defaults (:class:`MetricConfig`).

    Raises:
        ValueError: no metrics, bad thresholds or confidence, a config for a metric
            without samples.
    """
    _check_confidence(confidence)
    if not 0 <= marginal_threshold <= pass_threshold <= 100:
        raise ValueError("thresholds must satisfy 0 <= marginal <= pass <= 100")
    if not samples:
        raise ValueError("nothing to judge: no metrics")
    by_name = dict(configs) if isinstance(configs, Mapping) else {c.name: c for c in configs}
    unknown = sorted(set(by_name) - set(samples))
    if unknown:
        raise ValueError(f"configs for metrics without samples: {', '.join(unknown)}")
    verdicts = []
    for name, (canary, baseline) in samples.items():
        config = by_name.get(name, MetricConfig(name))
        verdicts.append((config, classify_metric(config, canary, baseline, confidence=confidence)))
    counted = [
        (c, v) for c, v in verdicts if v.classification is not Classification.NODATA or v.failed
    ]
    total = sum(c.weight for c, _ in counted)
    passed = sum(c.weight for c, v in counted if not v.failed)
    score = 100 * passed / total if total else 0.0
    reason = ""
    critical = [v.name for c, v in verdicts if c.critical and v.failed]
    no_data = sum(v.classification is Classification.NODATA for _, v in verdicts)
    if critical:
        score = 0.0
        reason = f"critical metric failed: {', '.join(critical)}"
    if 2 * no_data >= len(verdicts):
        reason = reason or f"{no_data} of {len(verdicts)} metrics have no data"
        label = "Fail"
    elif score >= pass_threshold:
        label = "Pass"
    elif score >= marginal_threshold:
        label = "Marginal"
    else:
        label = "Fail"
    if not reason:
        failing = [v.name for _, v in verdicts if v.failed]
        reason = f"failing: {', '.join(failing)}" if failing else "every metric passed"
    return Judgement(round(score, 6), label, tuple(v for _, v in verdicts), reason)
