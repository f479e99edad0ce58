"""Start-up costs: `import progressive` and `progressive --help`, in fresh processes.

    python bench/startup.py [--runs N]

Prints the median and the worst of N runs of each, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path


def timed(command: list[str], runs: int) -> dict[str, float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        samples.append((time.perf_counter() - start) * 1000)
    return {"median_ms": round(statistics.median(samples), 1), "max_ms": round(max(samples), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    # the console script of this interpreter's environment (a pyenv shim found first
    # on PATH adds its own ~50 ms of bash)
    beside = Path(sys.executable).with_name("progressive")
    cli = str(beside) if beside.exists() else shutil.which("progressive") or "progressive"
    figures = {
        "python_baseline": timed([sys.executable, "-c", "pass"], args.runs),
        "import_progressive": timed([sys.executable, "-c", "import progressive"], args.runs),
        "progressive_help": timed([cli, "--help"], args.runs),
    }
    for name, result in figures.items():
        print(f"{name:<20} median {result['median_ms']:>7} ms   max {result['max_ms']:>7} ms")
    print(json.dumps({"bench": "startup", **figures}))


if __name__ == "__main__":
    main()
