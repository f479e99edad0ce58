"""What an AnalysisRun's or Experiment's verdict does to a Rollout, for every kind of
run (step, background, pre- and post-promotion): one rule set.

* not started: start it (the caller's action) and wait;
* Successful: go on;
* Failed, Error or Inconclusive: what the analysis' ``onFailed`` / ``onError`` /
  ``onInconclusive`` say (progressive.dev extensions, see
  :class:`~progressive.core._steps.VerdictActions`), by default Argo's behaviour:

  - Failed or Error: ``abort`` the rollout (or ``pause``);
  - Inconclusive: ``pause`` (``InconclusiveAnalysisRun`` / ``InconclusiveExperiment``)
    (or ``abort``, or ``continue``: count it as passed);

  a pause lasts until a user promotes, after which the run counts as passed
  (remembered on the run itself, :class:`~progressive.core.actions.AcknowledgeRun`,
  so it never pauses again);
* anything else (Pending, Running): wait.
"""

from __future__ import annotations

from typing import Literal

from . import _state
from ._actions import AcknowledgeRun, Action, CreateAnalysisRun
from ._builder import PlanBuilder
from ._status import PauseReason, RolloutStatus
from ._steps import VerdictActions

__all__ = ["Verdict", "abort", "judge_run"]

Verdict = Literal["passed", "waiting", "aborted"]


def abort(b: PlanBuilder, status: RolloutStatus, message: str) -> RolloutStatus:
    """Abort with ``message`` (once: a second abort changes nothing)."""
    if not status.abort:
        b.event("Aborted", message, "Warning")
    return _state.abort(status, message, b.now)


def judge_run(
    b: PlanBuilder,
    status: RolloutStatus,
    name: str,
    label: str,
    start: Action,
    *,
    experiment: bool = False,
    announce: bool = False,
) -> tuple[RolloutStatus, Verdict]:
    """Apply the verdict of run ``name`` (``label`` names it in events and messages).

    A run's success is judged on every reconcile while the rollout waits at that point;
    ``announce`` emits the ``...Successful`` event, for callers that move on at once.
    """
    what = "Experiment" if experiment else "Analysis"
    run = b.observed.run(name)
    if run is None:
        b.add("runs", start)
        b.event(f"{what}Started", f"Started {label} {name}")
        return status, "waiting"
    if run.phase == "Successful":
        if announce:
            b.event(f"{what}Successful", f"{label} {name} successful")
        return status, "passed"
    if run.phase not in ("Failed", "Error", "Inconclusive"):
        return status, "waiting"
    verdicts = start.analysis.verdicts if isinstance(start, CreateAnalysisRun) else _ARGO
    action = verdicts.action(run.phase)
    if action == "abort":
        b.event(f"{what}{run.phase}", f"{label} {name}: {run.message or run.phase}", "Warning")
        message = f"RolloutAborted: {label} {name} {run.phase.lower()}"
        return abort(b, status, message + (f": {run.message}" if run.message else "")), "aborted"
    if action == "continue":
        if announce:
            b.event(
                f"{what}{run.phase}",
                f"{label} {name} {run.phase.lower()}: continuing (on{run.phase}: continue)",
                "Warning",
            )
        return status, "passed"
    if run.acknowledged:
        return status, "passed"
    reason = _pause_reason(run.phase, experiment)
    if status.has_pause(reason) is None:
        status, resumed = _state.unpause_acknowledged(status)
        if resumed:
            b.add("runs", AcknowledgeRun(name))
            return status, "passed"
        b.event(f"{what}{run.phase}", f"{label} {name} {run.phase.lower()}: paused", "Warning")
        status = _state.pause(status, reason, b.now)
    return status, "waiting"


_ARGO = VerdictActions()


def _pause_reason(phase: str, experiment: bool) -> str:
    """``InconclusiveAnalysisRun`` as in Argo; ``FailedAnalysisRun`` and ``ErrorAnalysisRun``
    (``...Experiment``) when an analysis asks to pause on those verdicts."""
    if phase == "Inconclusive":
        return (
            PauseReason.INCONCLUSIVE_EXPERIMENT if experiment else PauseReason.INCONCLUSIVE_ANALYSIS
        )
    return f"{phase}{'Experiment' if experiment else 'AnalysisRun'}"
