"""progressive's controller and Argo Rollouts' side by side, on the same workload.

    python bench/versus_argo.py --rollouts 100 [--rollouts 500 ...]
        [--qps 40 --burst 80] [--match-rate] [--argo-threads N] [--workers 10]
        [--baseline-src DIR] [--steady 60] [--timeout 1200] [--json results.json]

For each N, bench/kube_controller.py's run -- a fresh local control plane, N rollouts
(2 replicas, SMI router; setWeight 20, a 10 s pause, a ``web`` analysis against a
server on 127.0.0.1, setWeight 60, a 10 s pause) created, then all updated at once --
is made for Argo Rollouts' controller (built from its Go module by bench/_argo.py,
cached under ~/.cache/progressive/argo-rollouts/) and then for progressive's, back to
back, both with the same ``--qps``/``--burst`` (client-go's, per clientset for Argo;
per API group lane for progressive) and otherwise at their defaults (Argo: 10 rollout
threads; progressive: ``--workers``, 10).

``--match-rate`` adds a third run: progressive with ``--total-qps`` set to the request
rate Argo was measured at in its update (its requests as the API server counts them,
over the update phase), so that both are compared at the same measured request rate.
``--baseline-src`` adds a run of progressive's controller from another checkout's
``src`` (say, main before a change; with ``--baseline-workers``, 4 by default), so
that before and after are measured back to back with Argo.

Prints, on stdout, one table per N with both columns and their ratio (progressive /
Argo), and the machine's load average around each run; ``--json`` writes every
figure of every run.  Wall-clock figures on a shared machine are noisy: compare runs
made back to back.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
from _argo import Argo
from kube_controller import PROGRESSIVE, Subject, arguments, line, run, say, table

Figure = tuple[str, Callable[[dict[str, Any]], float | None], str]


def _update(r: dict[str, Any]) -> dict[str, Any]:
    phase: dict[str, Any] = r["phases"]["update"]
    return phase


def _rate(r: dict[str, Any]) -> float:
    phase = _update(r)
    return round(phase["controller_requests_apiserver"] / max(phase["seconds"], 1e-9), 1)


def _steady(r: dict[str, Any]) -> str:
    a = r["steady_after_deploy_per_min"]["requests"]
    b = r["steady_after_update_per_min"]["requests"]
    return f"{a:g} / {b:g}"


FIGURES: list[Figure] = [
    ("API requests per step", lambda r: r["per_step"]["requests"], "{:.1f}"),
    ("  writes per step (Events included)", lambda r: r["per_step"]["writes"], "{:.1f}"),
    (
        "  reads per step (the rest)",
        lambda r: r["per_step"]["requests"] - r["per_step"]["writes"],
        "{:.1f}",
    ),
    ("requests/s in the update", _rate, "{:.1f}"),
    ("controller KB per rollout", lambda r: r["kb_per_rollout"], "{:.0f}"),
    ("controller CPU s in the update", lambda r: _update(r)["cpu_s"]["controller"], "{:.1f}"),
    (
        "kube-apiserver CPU s in the update",
        lambda r: _update(r)["cpu_s"].get("kube-apiserver"),
        "{:.1f}",
    ),
    ("step lateness p50 s", lambda r: r["lateness_p50_s"], "{:.2f}"),
    ("step lateness p99 s", lambda r: r["lateness_p99_s"], "{:.2f}"),
    ("spec change to first write p50 s", lambda r: r["first_write_p50_s"], "{:.2f}"),
    ("spec change to first write p99 s", lambda r: r["first_write_p99_s"], "{:.2f}"),
    ("update to Healthy s", lambda r: r["update_s"], "{:.1f}"),
    (
        "Events emitted per step",
        lambda r: _update(r)["controller_events"] / (r["rollouts"] * 5),
        "{:.1f}",
    ),
    (
        "Event requests per step",
        lambda r: _update(r)["controller_event_requests"] / (r["rollouts"] * 5),
        "{:.1f}",
    ),
]


def _cell(value: float | None, fmt: str) -> str:
    return "-" if value is None else fmt.format(value)


def side_by_side(n: int, results: list[dict[str, Any]]) -> str:
    """A markdown table: one column per run, the ratio of each progressive run to Argo's."""
    argo = next(r for r in results if r["controller"] == "argo")
    ours = [r for r in results if r["controller"] != "argo"]
    header = ["figure", *(_label(r) for r in results), *(f"ratio ({_label(r)})" for r in ours)]
    rows = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, get, fmt in FIGURES:
        values = [get(r) for r in results]
        cells = [_cell(v, fmt) for v in values]
        base = get(argo)
        for r in ours:
            mine = get(r)
            cells.append("-" if mine is None or not base else f"{mine / base:.2f}")
        rows.append("| " + " | ".join([name, *cells]) + " |")
    steady = ["requests/min at steady state (after deploy / update)"]
    steady += [_steady(r) for r in results] + [""] * len(ours)
    rows.append("| " + " | ".join(steady) + " |")
    shed = ["Events shed in the update"]
    shed += [str(_update(r)["controller_events_dropped"] or 0) for r in results] + [""] * len(ours)
    rows.append("| " + " | ".join(shed) + " |")
    loads = ["load average (1 min) before / after"]
    loads += [
        f"{r['load_average']['before'][0]:g} / {r['load_average']['after'][0]:g}" for r in results
    ]
    loads += [""] * len(ours)
    rows.append("| " + " | ".join(loads) + " |")
    return f"N={n}\n" + "\n".join(rows)


def _label(r: dict[str, Any]) -> str:
    if r["controller"] == "argo":
        return "Argo"
    label = "progressive"
    if r["settings"].get("baseline"):
        label += " (baseline)"
    total = r["settings"].get("total_qps")
    return f"{label} (total {total:g} QPS)" if total else label


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument(
        "--match-rate",
        action="store_true",
        help="also run progressive capped at the request rate Argo was measured at",
    )
    parser.add_argument(
        "--argo-threads", type=int, help="Argo's --rollout-threads (default: its own, 10)"
    )
    parser.add_argument(
        "--baseline-src", help="also run progressive's controller from this src folder"
    )
    parser.add_argument(
        "--baseline-workers",
        type=int,
        default=4,
        help="the baseline's --workers (4: the default before issue 17)",
    )
    parser.add_argument("--json", help="write every figure of every run to this file")
    args = parser.parse_args()
    argo = Argo(threads=args.argo_threads)
    everything = []
    for n in args.rollouts or [100]:
        results = []
        args.total_qps = 0.0
        runs: list[tuple[Subject, str | None]] = [(argo, None), (PROGRESSIVE, None)]
        if args.baseline_src:
            runs.append((PROGRESSIVE, args.baseline_src))
        workers = args.workers
        for subject, src in runs:
            say(f"N={n}: {subject.name}" + (f" from {src}" if src else ""))
            args.controller_src = src
            args.workers = args.baseline_workers if src else workers
            result = anyio.run(run, n, args, subject)
            if src:
                result["settings"]["baseline"] = src
            results.append(result)
            say(table(result))
            say(line(result))
        args.controller_src, args.workers = None, workers
        if args.match_rate:
            args.total_qps = _rate(results[0])
            say(f"N={n}: progressive at Argo's measured rate, {args.total_qps:g} requests/s")
            result = anyio.run(run, n, args, PROGRESSIVE)
            results.append(result)
            say(table(result))
            say(line(result))
        print(side_by_side(n, results), flush=True)
        everything.append({"rollouts": n, "results": results})
    if args.json:
        Path(args.json).write_text(json.dumps(everything, indent=1))
    json.dump({"bench": "versus_argo", "runs": everything}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
