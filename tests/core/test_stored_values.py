"""A run's status keeps a bounded text of each measured value, and of all of them
together; the conditions judge the whole value (progressive.core._stored_values)."""

from __future__ import annotations

import json

from progressive.core._analysis import AnalysisPhase, AnalysisRun, MeasurementOutcome, record
from progressive.core._stored_values import (
    DROPPED_VALUE,
    MAX_RUN_VALUE_CHARS,
    MAX_VALUE_CHARS,
    stored_value,
)

from .test_analysis import feed, metric, new_run

P = AnalysisPhase
SAMPLES = 100_000  # what a Prometheus range query may return (max_samples)


def stored(run: AnalysisRun) -> list[list[object]]:
    """The values of each metric's measurements, as the status stores them."""
    return [
        [m.get("value") for m in r["measurements"]]
        for r in run.to_manifest()["status"]["metricResults"]
    ]


def test_a_long_value_is_judged_whole_and_kept_short_with_a_marker() -> None:
    vector = [0.5] * (SAMPLES - 1) + [0.9]
    text = json.dumps(vector, separators=(",", ":"))
    run = new_run(
        metric("m", successCondition=f"len(result) == {SAMPLES}"),
        metric("n", failureCondition=f"result[{SAMPLES - 1}] > 0.8"),
    )
    run = record(record(run, "m", vector, 0.0), "n", vector, 0.0)
    result_m, result_n = run.result("m"), run.result("n")
    assert result_m is not None and result_n is not None
    assert (result_m.phase, result_n.phase) == (P.SUCCESSFUL, P.FAILED)  # the whole seen
    [[kept], [also]] = stored(run)
    assert kept == also and isinstance(kept, str)
    marker = f"…[truncated from {len(text):,} characters]"
    assert len(kept) == MAX_VALUE_CHARS and kept.endswith(marker)
    assert text.startswith(kept.removesuffix(marker))
    # read back and written again unchanged; bounding it again changes nothing
    again = AnalysisRun.from_manifest(run.to_manifest())
    assert again == run and stored(again) == stored(run)
    assert stored_value(kept) == kept


def test_short_values_are_kept_as_measured() -> None:
    for value in (0.25, 7, True, None, [1.0, 2.0], {"ok": True}, "x" * MAX_VALUE_CHARS):
        run = record(new_run(metric("m")), "m", value, 0.0)
        kept = run.to_manifest()["status"]["metricResults"][0]["measurements"][0]
        assert AnalysisRun.from_manifest(run.to_manifest()) == run
        assert ("value" in kept) == (value is not None)
    marker = f"…[truncated from {MAX_VALUE_CHARS + 1:,} characters]"
    long_text = "y" * (MAX_VALUE_CHARS + 1)
    assert stored_value(long_text) == "y" * (MAX_VALUE_CHARS - len(marker)) + marker


def test_a_value_a_provider_judged_is_bounded_too() -> None:
    run = new_run(metric("m"))
    run = record(
        run, "m", MeasurementOutcome(P.FAILED, value="z" * 10**6, message="job failed"), 0.0
    )
    [[kept]] = stored(run)
    assert isinstance(kept, str) and len(kept) == MAX_VALUE_CHARS
    assert kept.endswith("…[truncated from 1,000,000 characters]")


def test_the_run_keeps_the_newest_values_within_its_total() -> None:
    """Long values, a retention that keeps them all: the oldest values are dropped once
    the run's values pass the total, the newest keep theirs; counters count them all."""
    run = new_run(
        metric("m", interval="10s", count=100),
        metric("n", interval="10s", count=100),
        retention=[(".*", 1000)],
    )
    long = ["v" * 10_000]
    run = feed(run, [long] * 40, name="m", start=0.0)
    run = feed(run, [long] * 40, name="n", start=5.0)  # interleaved in time with m's
    values = [v for metric_values in stored(run) for v in metric_values]
    assert len(values) == 80
    sizes = [len(str(v)) for v in values]
    assert sum(sizes) <= MAX_RUN_VALUE_CHARS
    assert sum(sizes) + MAX_VALUE_CHARS > MAX_RUN_VALUE_CHARS  # nothing dropped needlessly
    m_values, n_values = stored(run)
    kept = (MAX_RUN_VALUE_CHARS - 80 * len(DROPPED_VALUE)) // (MAX_VALUE_CHARS - len(DROPPED_VALUE))
    # the oldest go first, whichever metric they belong to
    assert m_values[-(kept // 2) :] == [m_values[-1]] * (kept // 2)
    assert DROPPED_VALUE not in m_values[-(kept // 2) :] + n_values[-(kept // 2) :]
    assert m_values[0] == n_values[0] == DROPPED_VALUE
    for name in ("m", "n"):
        result = run.result(name)
        assert result is not None and result.count == 40 and result.successful == 40
    again = AnalysisRun.from_manifest(run.to_manifest())
    assert stored(again) == stored(run)


def test_secrets_are_masked_before_a_value_is_cut() -> None:
    """A secret across the cut would be half-kept, and no longer recognised."""
    secret = "s3cr3t-t0ken"
    # the cut (4,062 characters in, before a 34-character marker) goes through the secret
    value = {"pad": "p" * 4039, "token": secret, "tail": "t" * 100}
    unmasked = stored_value(value)
    assert isinstance(unmasked, str) and unmasked.endswith(
        '"s3cr…[truncated from 4,182 characters]'
    )

    def redact(v: object) -> object:
        return json.loads(json.dumps(v).replace(secret, "***"))

    run = record(new_run(metric("m")), "m", value, 0.0, redact=redact)
    [[kept]] = stored(run)
    assert isinstance(kept, str) and secret[:4] not in kept and '"token":"***"' in kept
