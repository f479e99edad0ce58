"""SLO burn-rate gates: multi-window burn-rate queries and AnalysisTemplates (pure).

An SLO with objective ``o`` (``0.999``) has an error budget of ``1 - o``.  Its *burn
rate* over a window is the error ratio over that window divided by the budget: 1 spends
the budget exactly over the SLO window, 14.4 spends 2% of a 30-day budget in one hour.
The Google SRE workbook (chapter "Alerting on SLOs") pages when the burn rate exceeds a
factor over both a long and a short window; Pyrra generates exactly those alerts from
its recording rules.  A canary gate asks the same question of the canary's traffic.

Two sources for the error ratios:

* ``source="pyrra"``: Pyrra's recording rules, ``<metric>:burnrate<window>{slo="<name>"}``
  where ``<metric>`` is the total counter's name without ``_total`` / ``_count``
  (``http_requests_total`` gives ``http_requests:burnrate5m``).  Pyrra's rules mix all
  the traffic its indicator selects: gate a canary with an SLO whose indicator selects
  the canary's traffic, or use the counters.
* ``source="counters"``: the raw request counters with a track matcher added
  (``track="canary"`` by default; ``rollouts_pod_template_hash="{{args.canary-hash}}"``
  works as well), so only the canary's traffic counts.

Windows: :data:`GOOGLE_SRE_WINDOWS` (the workbook's table for 30 days) or
:func:`pyrra_windows` (Pyrra's table for 28 days, scaled to the SLO's window, as Pyrra
does).  The gates use Pyrra's windows with ``source="pyrra"`` (those are the recording
rules that exist) and the workbook's with ``source="counters"``, unless told otherwise,
and only the ``critical`` (page-level) rows: a canary is judged on fast burns.

Each row becomes one metric whose query returns two burn rates, ``[short, long]`` (the
``window`` label tells which; labels are dropped from ``result``).  The budget burns
too fast when both exceed the factor, so the metric fails on ``min(result) > factor``
and passes on ``len(result) == 2 && min(result) <= factor``; one window without data is
Inconclusive, and no data at all (empty, NaN) follows the metric's ``emptyResult`` /
``nanResult`` policies (Error by default): a fresh canary never passes for lack of
traffic.

Everything here returns plain strings and dicts; nothing talks to Prometheus.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Final, Literal

import attrs

from ._analysis_values import PLACEHOLDER
from ._names import template_kind

__all__ = [
    "GOOGLE_SRE_WINDOWS",
    "SLO",
    "BurnRateWindow",
    "Matcher",
    "Selector",
    "burn_rate_metrics",
    "burn_rate_query",
    "burn_rate_template",
    "error_budget_query",
    "format_prometheus_duration",
    "parse_prometheus_duration",
    "pyrra_recording_rules",
    "pyrra_windows",
]

Source = Literal["pyrra", "counters"]

_UNITS: Final = (
    ("y", 365 * 86400),
    ("w", 7 * 86400),
    ("d", 86400),
    ("h", 3600),
    ("m", 60),
    ("s", 1),
)
_DURATION: Final = re.compile(r"(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_NAME: Final = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL: Final = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_MATCHER: Final = re.compile(
    r"\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*\"((?:[^\"\\]|\\.)*)\"\s*(,|$)"
)
_MAX_SECONDS: Final = 10 * 365 * 86400


def parse_prometheus_duration(text: str) -> int:
    """Seconds in a Prometheus duration such as ``5m``, ``1h30m``, ``28d``, ``4w``.

    Raises:
        ValueError: not such a duration (or zero, or over ten years).
    """
    match = _DURATION.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None or not any(match.groups()):
        raise ValueError(f"must be a Prometheus duration such as '5m' or '28d', got {text!r}")
    seconds = sum(int(v) * unit for v, (_, unit) in zip(match.groups(), _UNITS, strict=True) if v)
    if not 0 < seconds <= _MAX_SECONDS:
        raise ValueError(f"must be between 1s and 10y, got {text!r}")
    return seconds


def format_prometheus_duration(seconds: int) -> str:
    """As Prometheus (and so Pyrra's rule names) write it: ``3900`` -> ``1h5m``.

    Years and weeks only when exact (``30d`` stays ``30d``, ``28d`` is ``4w``).
    """
    if seconds <= 0:
        return "0s"
    out = []
    left = int(seconds)
    for unit, size in _UNITS:
        if unit in ("y", "w") and left % size:
            continue
        if left >= size:
            out.append(f"{left // size}{unit}")
            left %= size
    return "".join(out)


# -- selectors --------------------------------------------------------------------------------


@attrs.frozen
class Matcher:
    label: str
    op: str  # = != =~ !~
    value: str

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"')
        return f'{self.label}{self.op}"{escaped}"'


@attrs.frozen
class Selector:
    """A PromQL series selector: ``name{label="value", ...}``."""

    name: str
    matchers: tuple[Matcher, ...] = ()

    @classmethod
    def parse(cls, text: str) -> Selector:
        """Read ``http_requests_total{job="x",code=~"5.."}``.

        Raises:
            ValueError: not a plain selector with a metric name.
        """
        text = text.strip()
        name_match = _NAME.match(text)
        if name_match is None:
            raise ValueError(
                f"must be a series selector such as 'http_requests_total', got {text!r}"
            )
        rest = text[name_match.end() :].strip()
        matchers: list[Matcher] = []
        if rest:
            if not (rest.startswith("{") and rest.endswith("}")):
                raise ValueError(
                    f"must be a series selector such as 'metric{{a=\"b\"}}', got {text!r}"
                )
            body = rest[1:-1].strip()
            pos = 0
            while pos < len(body):
                m = _MATCHER.match(body, pos)
                if m is None:
                    raise ValueError(f"cannot read the label matchers of {text!r}")
                value = re.sub(r"\\(.)", r"\1", m.group(3))
                matchers.append(Matcher(m.group(1), m.group(2), value))
                pos = m.end()
        return cls(name_match.group(0), tuple(matchers))

    def with_matchers(self, *extra: Matcher) -> Selector:
        """Add matchers; one on a label already matched replaces it."""
        labels = {m.label for m in extra}
        kept = tuple(m for m in self.matchers if m.label not in labels)
        return Selector(self.name, (*kept, *extra))

    @property
    def equalities(self) -> dict[str, str]:
        return {m.label: m.value for m in self.matchers if m.op == "="}

    def __str__(self) -> str:
        if not self.matchers:
            return self.name
        return f"{self.name}{{{','.join(str(m) for m in self.matchers)}}}"


# -- windows ----------------------------------------------------------------------------------


@attrs.frozen
class BurnRateWindow:
    """One multi-window alert: the burn rate exceeds ``factor`` over both windows."""

    short: str
    long: str
    factor: float
    severity: str = "critical"

    def __attrs_post_init__(self) -> None:
        short, long = parse_prometheus_duration(self.short), parse_prometheus_duration(self.long)
        if short >= long:
            raise ValueError(f"short window {self.short} must be shorter than {self.long}")
        if not (math.isfinite(self.factor) and self.factor > 0):
            raise ValueError(f"factor must be a positive number, got {self.factor!r}")


#: Google SRE workbook, "Alerting on SLOs", for a 30-day SLO: 2% of the budget in 1h,
#: 5% in 6h (page); 10% in 1d, 10% in 3d (ticket).
GOOGLE_SRE_WINDOWS: Final = (
    BurnRateWindow("5m", "1h", 14.4, "critical"),
    BurnRateWindow("30m", "6h", 6, "critical"),
    BurnRateWindow("2h", "1d", 3, "warning"),
    BurnRateWindow("6h", "3d", 1, "warning"),
)

_DAY: Final = 86400
# Pyrra's table for a 28-day window: (short, long, factor, severity), in fractions of it.
_PYRRA_28D: Final = (
    (28 * 24 * 12, 28 * 24, 14, "critical"),  # 5m, 1h
    (28 * 24 * 2, 28 * 4, 7, "critical"),  # 30m, 6h
    (28 * 12, 28, 2, "warning"),  # 2h, 1d
    (28 * 4, 7, 1, "warning"),  # 6h, 4d
)


def pyrra_windows(slo_window: str = "28d") -> tuple[BurnRateWindow, ...]:
    """Pyrra's burn-rate windows for an SLO window, scaled as Pyrra scales them.

    ``28d`` gives 5m/1h x14, 30m/6h x7 (critical), 2h/1d x2, 6h/4d x1 (warning);
    other windows scale, rounded to the minute: ``30d`` gives 5m/1h4m, 32m/6h26m, ...
    (and so recording rules named ``burnrate1h4m``).
    """
    window = parse_prometheus_duration(slo_window)

    def scaled(divisor: int) -> str:
        minutes = max(1, round(window / divisor / 60))
        return format_prometheus_duration(minutes * 60)

    return tuple(
        BurnRateWindow(scaled(short), scaled(long), factor, severity)
        for short, long, factor, severity in _PYRRA_28D
    )


# -- the SLO ----------------------------------------------------------------------------------


def _check_name(value: str) -> None:
    if not value or any(c in value for c in '"\\\n{}'):
        raise ValueError(f"SLO name must be non-empty, without quotes or braces: {value!r}")


@attrs.frozen
class SLO:
    """A ratio SLO: ``objective`` of the requests ``total`` selects are not ``errors``.

    Attributes:
        name: the SLO's name (Pyrra's ``slo`` label).
        objective: the target ratio, strictly between 0 and 1 (``0.999``).
        total: a PromQL selector of every request (a counter).
        errors: a selector of the failed requests (same counter, usually).
        window: the SLO window (``28d``, Pyrra's default; ``30d``).
    """

    name: str = attrs.field(validator=lambda _i, _a, v: _check_name(v))
    objective: float
    total: str = "http_requests_total"
    errors: str = 'http_requests_total{code=~"5.."}'
    window: str = "28d"

    def __attrs_post_init__(self) -> None:
        if not (isinstance(self.objective, int | float) and 0 < self.objective < 1):
            raise ValueError(f"objective must be between 0 and 1 (0.999), got {self.objective!r}")
        Selector.parse(self.total)
        Selector.parse(self.errors)
        parse_prometheus_duration(self.window)

    @property
    def budget(self) -> float:
        """``1 - objective``."""
        return 1 - self.objective

    @property
    def budget_text(self) -> str:
        """``(1 - 0.999)``, as written in queries (Prometheus does the arithmetic)."""
        return f"(1 - {_number(self.objective)})"

    @property
    def rule_prefix(self) -> str:
        """Pyrra's recording-rule prefix: the total counter without ``_total``/``_count``."""
        name = Selector.parse(self.total).name
        for suffix in ("_total", "_count"):
            if name.endswith(suffix):
                return name[: -len(suffix)]
        return name

    @classmethod
    def from_pyrra(cls, manifest: Mapping[str, Any]) -> SLO:
        """Read a Pyrra ``ServiceLevelObjective`` (``pyrra.dev/v1alpha1``, ratio indicator).

        Raises:
            ValueError: not a ratio SLO this module understands.
        """
        meta = manifest.get("metadata") or {}
        spec = manifest.get("spec") or {}
        ratio = ((spec.get("indicator") or {}).get("ratio")) or {}
        errors = (ratio.get("errors") or {}).get("metric")
        total = (ratio.get("total") or {}).get("metric")
        if not isinstance(errors, str) or not isinstance(total, str):
            raise ValueError("spec.indicator.ratio.errors.metric and .total.metric are required")
        try:
            objective = float(Decimal(str(spec.get("target"))) / 100)  # "99.9" -> 0.999
        except ArithmeticError:
            raise ValueError(
                f"spec.target must be a percentage, got {spec.get('target')!r}"
            ) from None
        return cls(
            name=str(meta.get("name") or ""),
            objective=objective,
            total=total,
            errors=errors,
            window=str(spec.get("window") or "28d"),
        )


def _number(value: float) -> str:
    """A number as short as it reads: ``14.0`` -> ``14``, ``0.999`` -> ``0.999``."""
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


# -- queries ----------------------------------------------------------------------------------


def _track(track_label: str, track: str) -> Matcher:
    if not _LABEL.fullmatch(track_label):
        raise ValueError(f"track_label must be a label name, got {track_label!r}")
    return Matcher(track_label, "=", track)


def _ratio(slo: SLO, window: str, source: Source, track: Matcher | None, sep: str = " ") -> str:
    if source == "pyrra":
        return f'max({slo.rule_prefix}:burnrate{window}{{slo="{slo.name}"}})'
    errors, total = Selector.parse(slo.errors), Selector.parse(slo.total)
    if track is not None:
        errors, total = errors.with_matchers(track), total.with_matchers(track)
    return f"sum(rate({errors}[{window}])){sep}/ sum(rate({total}[{window}]))"


def burn_rate_query(
    slo: SLO,
    window: BurnRateWindow,
    *,
    source: Source = "pyrra",
    track_label: str = "track",
    track: str | None = "canary",
) -> str:
    """The query returning ``[short, long]`` burn rates (labelled ``window``) of one row.

    ``track`` (``source="counters"`` only; None for all traffic) adds
    ``track_label="track"`` to both selectors.
    """
    if source not in ("pyrra", "counters"):
        raise ValueError(f"source must be 'pyrra' or 'counters', got {source!r}")
    matcher = _track(track_label, track) if source == "counters" and track is not None else None
    parts = [
        f"label_replace(\n    {_ratio(slo, w, source, matcher, chr(10) + '      ')},\n"
        f'    "window", "{w}", "", ""\n  )'
        for w in (window.short, window.long)
    ]
    return f"(\n  {parts[0]}\n  or\n  {parts[1]}\n) / {slo.budget_text}"


def error_budget_query(slo: SLO) -> str:
    """The share of the error budget left over the SLO window (< 0: overspent).

    Needs Pyrra's generic rules (``--generic-rules``): ``pyrra_availability`` and
    ``pyrra_objective``.
    """
    availability = f'max(pyrra_availability{{slo="{slo.name}"}})'
    objective = f'max(pyrra_objective{{slo="{slo.name}"}})'
    return f"({availability} - {objective}) / (1 - {objective})"


def _default_windows(slo: SLO, source: Source) -> tuple[BurnRateWindow, ...]:
    return pyrra_windows(slo.window) if source == "pyrra" else GOOGLE_SRE_WINDOWS


def _chosen(
    slo: SLO,
    source: Source,
    windows: Sequence[BurnRateWindow] | None,
    severities: Iterable[str] | None,
) -> list[BurnRateWindow]:
    rows = list(_default_windows(slo, source) if windows is None else windows)
    if severities is not None:
        wanted = set(severities)
        rows = [w for w in rows if w.severity in wanted]
    if not rows:
        raise ValueError("no burn-rate window left to gate on (check windows and severities)")
    return rows


def burn_rate_metrics(
    slo: SLO,
    *,
    source: Source = "pyrra",
    windows: Sequence[BurnRateWindow] | None = None,
    severities: Iterable[str] | None = ("critical",),
    address: str | None = None,
    interval: str = "1m",
    count: int | None = None,
    failure_limit: int = 0,
    track_label: str = "track",
    track: str | None = "canary",
    policies: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """One AnalysisTemplate metric per burn-rate row (see the module docstring).

    Args:
        address: the Prometheus address; None leaves it to the environment
            (``PROGRESSIVE_PROMETHEUS_ADDRESS`` / ``ARGO_ROLLOUTS_PROMETHEUS_ADDRESS``).
        interval, count, failure_limit: as in any metric (``count`` None: measure until
            the run is terminated, as a background analysis does).
        policies: extra metric fields, e.g. ``{"nanResult": "inconclusive"}``.
    """
    metrics = []
    for row in _chosen(slo, source, windows, severities):
        factor = _number(row.factor)
        prometheus: dict[str, Any] = {}
        if address is not None:
            prometheus["address"] = address
        prometheus["query"] = burn_rate_query(
            slo, row, source=source, track_label=track_label, track=track
        )
        metric: dict[str, Any] = {
            "name": f"{slo.name}-burn-rate-{row.short}-{row.long}",
            "interval": interval,
        }
        if count is not None:
            metric["count"] = count
        metric["failureLimit"] = failure_limit
        metric["successCondition"] = f"len(result) == 2 && min(result) <= {factor}"
        metric["failureCondition"] = f"min(result) > {factor}"
        metric.update(policies or {})
        metric["provider"] = {"prometheus": prometheus}
        metrics.append(metric)
    return metrics


def burn_rate_template(
    slo: SLO,
    *,
    name: str | None = None,
    namespace: str | None = None,
    cluster_scope: bool = False,
    api_version: str = "argoproj.io/v1alpha1",
    **options: Any,
) -> dict[str, Any]:
    """An AnalysisTemplate (or ClusterAnalysisTemplate) manifest gating on ``slo``.

    ``options`` are :func:`burn_rate_metrics`'s.  The name defaults to
    ``<slo>-burn-rate``.  ``{{args.x}}`` placeholders in the options (a ``track`` of
    ``{{args.canary-hash}}``, an ``address``) are declared as the template's args.
    """
    metadata: dict[str, Any] = {"name": name or f"{slo.name}-burn-rate"}
    if namespace is not None and not cluster_scope:
        metadata["namespace"] = namespace
    metrics = burn_rate_metrics(slo, **options)
    placeholders = PLACEHOLDER.findall(repr(metrics))
    spec: dict[str, Any] = {}
    if placeholders:  # e.g. track="{{args.canary-hash}}": the template declares it
        spec["args"] = [{"name": arg} for arg in dict.fromkeys(placeholders)]
    spec["metrics"] = metrics
    return {
        "apiVersion": api_version,
        "kind": template_kind(cluster_scope),
        "metadata": metadata,
        "spec": spec,
    }


def pyrra_recording_rules(
    slo: SLO, windows: Sequence[BurnRateWindow] | None = None
) -> dict[str, Any]:
    """The burn-rate recording rules Pyrra generates for ``slo``, as a rule group.

    Each ``<prefix>:burnrate<w>`` records the error ratio over ``w`` and carries
    ``slo="<name>"`` plus the equality matchers of ``total`` (Pyrra's labels).  Meant
    for tests and for Prometheus setups without Pyrra; write the group into a rules file
    (``{"groups": [group]}``).
    """
    rows = list(pyrra_windows(slo.window) if windows is None else windows)
    durations = sorted(
        {w for row in rows for w in (row.short, row.long)}, key=parse_prometheus_duration
    )
    labels = {**Selector.parse(slo.total).equalities, "slo": slo.name}
    rules = [
        {
            "record": f"{slo.rule_prefix}:burnrate{w}",
            "expr": _ratio(slo, w, "counters", None),
            "labels": dict(labels),
        }
        for w in durations
    ]
    return {"name": f"{slo.name}-burn-rates", "rules": rules}
