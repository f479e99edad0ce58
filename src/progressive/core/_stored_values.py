"""How much of a measured value an AnalysisRun's status keeps.

A web metric without ``jsonPath`` gives its whole JSON answer (up to 4 MiB), a
Prometheus range query up to 100,000 samples.  The run's status keeps the last
measurements of every metric (``measurementRetention``: 10 by default, as many as asked),
and the API server refuses an object over about 1.5 MiB (etcd's request limit): a few
such values kept whole and every later status write of the run fails, so the run never
completes.  Argo stores each value whole, as a string; so does this, within two bounds:

* one value: its stored text (Argo's string: ``0.99``, ``[0.5,0.4]``, the JSON of an
  object) keeps at most :data:`MAX_VALUE_CHARS` characters; a longer one becomes its
  beginning followed by ``…[truncated from N characters]``, exactly that long;
* one run: once the values of all its measurements together pass
  :data:`MAX_RUN_VALUE_CHARS`, the oldest values are replaced by :data:`DROPPED_VALUE`
  until they fit again (the newest measurements keep theirs).

Only the value's text shrinks: a measurement's phase, message, times and its metric's
counters stay as they were.  The conditions judge the whole value first
(:func:`~progressive.core._analysis.record` bounds it after judging), so a verdict never
depends on where the text was cut.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import attrs

from ._analysis_status import Measurement, MetricResult
from ._analysis_values import encode_value

__all__ = ["DROPPED_VALUE", "MAX_RUN_VALUE_CHARS", "MAX_VALUE_CHARS", "bounded", "stored_value"]

#: The most characters of one measurement's stored value.
MAX_VALUE_CHARS: Final = 4096
#: The most characters of all the stored values of one run, together.
MAX_RUN_VALUE_CHARS: Final = 256 * 1024
#: What an older value becomes when the run's values pass :data:`MAX_RUN_VALUE_CHARS`.
DROPPED_VALUE: Final = (
    f"…[dropped: this run's measured values passed {MAX_RUN_VALUE_CHARS:,} characters]"
)


def _length(value: object) -> int:
    if value is None:
        return 0
    if isinstance(value, str):
        return len(value)
    return len(encode_value(value))


def stored_value(value: object) -> object:
    """``value`` as a measurement keeps it: itself when its stored text has at most
    :data:`MAX_VALUE_CHARS` characters, else that text's beginning and the marker
    ``…[truncated from N characters]`` (a string of exactly that many characters, which
    this returns unchanged)."""
    if value is None or isinstance(value, bool | float):
        return value  # their text is short
    text = value if isinstance(value, str) else encode_value(value)
    if len(text) <= MAX_VALUE_CHARS:
        return value
    marker = f"…[truncated from {len(text):,} characters]"
    return text[: MAX_VALUE_CHARS - len(marker)] + marker


def bounded(results: Sequence[MetricResult]) -> Sequence[MetricResult]:
    """``results`` with the oldest values replaced by :data:`DROPPED_VALUE` until all the
    values together have at most :data:`MAX_RUN_VALUE_CHARS` characters (``results``
    itself when they already do)."""
    sizes: list[tuple[float, int, int, int]] = []
    total = 0
    for i, result in enumerate(results):
        for j, m in enumerate(result.measurements):
            n = _length(m.value)
            if n > len(DROPPED_VALUE):  # dropping a shorter one frees nothing
                at = m.finished_at if m.finished_at is not None else m.started_at
                sizes.append((at if at is not None else float("-inf"), i, j, n))
            total += n
    if total <= MAX_RUN_VALUE_CHARS:
        return results
    drop: dict[int, set[int]] = {}
    for _, i, j, n in sorted(sizes):  # the oldest first
        drop.setdefault(i, set()).add(j)
        total -= n - len(DROPPED_VALUE)
        if total <= MAX_RUN_VALUE_CHARS:
            break
    return [
        r
        if i not in drop
        else attrs.evolve(
            r,
            measurements=tuple(
                _dropped(m) if j in drop[i] else m for j, m in enumerate(r.measurements)
            ),
        )
        for i, r in enumerate(results)
    ]


def _dropped(m: Measurement) -> Measurement:
    return attrs.evolve(m, value=DROPPED_VALUE)
