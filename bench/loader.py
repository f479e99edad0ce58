"""How long `progressive lint` takes to read one file of many documents.

    python bench/loader.py [--documents N ...] [--format yaml|json]

Each file holds the rollouts of bench 2 and 3 (bench/_workload.py: a Rollout and its
two Services, three documents each) and the AnalysisTemplate they name, so every
Rollout's references are checked.  Reading should grow linearly with the documents:
the seconds per 1,000 documents stay flat.  Prints one line per size, then one JSON
line with every figure.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from _workload import NAMESPACE, documents

from progressive._loader import load_documents

TEMPLATE: dict[str, Any] = {
    "apiVersion": "progressive.dev/v1alpha1",
    "kind": "AnalysisTemplate",
    "metadata": {"name": "check", "namespace": NAMESPACE},
    "spec": {"metrics": [{"name": "ok", "provider": {"web": {"url": "http://check/"}}}]},
}


def manifests(count: int) -> list[dict[str, Any]]:
    out = [TEMPLATE]
    i = 0
    while len(out) < count:
        out.extend(documents(i, "app:1"))
        i += 1
    return out[:count]


def write(path: Path, objects: list[dict[str, Any]], fmt: str) -> None:
    if fmt == "json":
        path.write_text("\n".join(json.dumps(o) for o in objects), encoding="utf-8")
        return
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    path.write_text(yaml.dump_all(objects, Dumper=dumper, sort_keys=False), encoding="utf-8")


def measure(count: int, fmt: str, folder: Path) -> dict[str, Any]:
    path = folder / f"many-{count}.{fmt}"
    write(path, manifests(count), fmt)
    start = time.perf_counter()
    loaded = load_documents([path])
    seconds = time.perf_counter() - start
    assert len(loaded.documents) == count and loaded.ok, loaded.errors[:3]
    return {
        "documents": count,
        "bytes": path.stat().st_size,
        "seconds": round(seconds, 2),
        "seconds_per_1000": round(seconds / count * 1000, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--documents", type=int, action="append")
    parser.add_argument("--format", choices=("yaml", "json"), default="yaml")
    args = parser.parse_args()
    figures = []
    with tempfile.TemporaryDirectory() as scratch:
        for count in args.documents or [1000, 10000, 40000]:
            result = measure(count, args.format, Path(scratch))
            figures.append(result)
            print(
                f"{count:>6} documents ({result['bytes'] / 1e6:.1f} MB of {args.format}): "
                f"{result['seconds']:>6} s, {result['seconds_per_1000']} s per 1,000"
            )
    print(json.dumps({"bench": "loader", "format": args.format, "figures": figures}))


if __name__ == "__main__":
    main()
