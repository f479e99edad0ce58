"""Argo Rollouts' own manifests, unchanged: every Rollout in ``examples/`` and
``test/e2e/`` of ``github.com/argoproj/argo-rollouts`` (the release the loader reads,
from the Go module cache, as ``cluster build`` fetches Kubernetes: nothing is copied
here).

* ``lint`` accepts each, or refuses it with a line that names a feature Argo has and
  progressive lacks, listed under "What progressive lacks" in ``docs/migration.md``;
  which files are refused, and why, is pinned in :data:`REFUSED`, so a manifest that
  starts (or stops) being refused fails the test until the table says so;
* every one ``lint`` accepts that names no analysis simulates to Healthy (indefinite
  pauses and experiments promoted, as ``kubectl argo rollouts promote`` would).

Two files are not manifests as Argo ships them (:data:`NOT_MANIFESTS`): a Helm chart's
template, and a file whose unquoted ``{{args...}}`` kubectl cannot parse either.

``python -m tests.test_argo_corpus`` prints the refusals grouped by reason and the share
of manifests ``lint`` accepts, counted both with and without the routers progressive
does not implement yet.
"""

from __future__ import annotations

import functools
import json
import re
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import attrs
import pytest

from progressive._cluster import argo_rollouts_dir
from progressive._loader import Documents, load_documents
from progressive._simulation import simulate

pytestmark = pytest.mark.kube  # needs Go, for the module cache

MIGRATION = Path(__file__).resolve().parents[1] / "docs" / "migration.md"
FOLDERS: Final = ("examples", "test/e2e")

#: Files that hold a Rollout but are not manifests as shipped, and the error they give.
NOT_MANIFESTS: Final = {
    # a Helm chart's template: `{{ .Values... }}` is YAML only once Helm renders it
    "examples/helm-blue-green/templates/rollout.yaml": "did not find expected key",
    # `linkerd.io/inject: {{args.linkerd-enabled}}` unquoted: a mapping used as a key,
    # which kubectl refuses too ("yaml: invalid map key")
    "examples/traffic-management/rollout-linkerd.yaml": "found unhashable key",
}

#: Manifests lint accepts that no controller can run, and the error simulate gives.
BROKEN: Final = {
    # rootService alb-canary-root, but both Ingresses route to alb-canary-multi-ingress-root:
    # Argo's controller fails the same way ("ingress does not have service
    # `alb-canary-root` in rules"); its test (TestALBCanaryUpdateMultiIngress) runs on AWS only
    "test/e2e/functional/alb-canary-multi-ingress-rollout.yaml": (
        "has no rule with service 'alb-canary-root' as its backend"
    ),
}

#: Each refusal message, as the feature it names, and the text that names it in the
#: feature's entry of docs/migration.md's list.
FEATURES: Final = (
    (re.compile(r"the (\w+) router is not implemented"), "the `{0}` router", "`{0}`"),
    (
        re.compile(r"the step plugin '[^']*' is not installed|a step plugin's name is"),
        "step plugins",
        "step plugins",
    ),
)
#: The routers another piece of work adds (counted both ways in the report).
ROUTERS_TO_COME: Final[frozenset[str]] = frozenset()

#: Every Rollout manifest ``lint`` refuses, and the features its refusal lines name.
REFUSED: Final[Mapping[str, frozenset[str]]] = {
    path: frozenset(features)
    for path, features in {
        "test/e2e/step-plugin/disabled-rollout.yaml": {"step plugins"},
        "test/e2e/step-plugin/invalid-rollout.yaml": {"step plugins"},
        "test/e2e/step-plugin/template-rollout.yaml": {"step plugins"},
    }.items()
}


@attrs.frozen
class Manifest:
    """One file of the corpus that holds a Rollout: what ``lint`` makes of it."""

    path: str  # relative to the module's root
    documents: Documents

    @property
    def rollouts(self) -> list[Mapping[str, Any]]:
        return [d.raw for d in self.documents.of_kind("Rollout")]

    @property
    def refusals(self) -> list[str]:
        """The error lines of ``lint`` for this file (the file's name left out)."""
        return [f"{p.error.path}: {p.error.message}" for p in self.documents.errors]

    def features(self) -> set[str]:
        """What each refusal line names (a feature, or UNNAMED and the line)."""
        out = set()
        for line in self.refusals:
            out.add(feature_of(line))
        return out


def feature_of(line: str) -> str:
    for pattern, feature, _ in FEATURES:
        if (found := pattern.search(line)) is not None:
            return feature.format(*found.groups())
    return f"UNNAMED: {line}"


@functools.cache
def root() -> Path:
    return argo_rollouts_dir()


@functools.cache
def corpus() -> tuple[Manifest, ...]:
    """Every YAML file under examples/ and test/e2e/ that holds a Rollout, linted alone
    (not strict: the AnalysisTemplates it names may be in other files)."""
    out = []
    for folder in FOLDERS:
        for path in sorted((root() / folder).rglob("*")):
            if path.suffix not in (".yaml", ".yml") or not path.is_file():
                continue
            text = path.read_text(encoding="utf-8")
            if not re.search(r"^kind:\s*Rollout\s*$", text, re.M):
                continue
            relative = path.relative_to(root()).as_posix()
            out.append(Manifest(relative, load_documents([path], cluster_may_have_more=True)))
    return tuple(out)


def manifests() -> list[Manifest]:
    return [m for m in corpus() if m.path not in NOT_MANIFESTS]


def analysis_free(rollout: Mapping[str, Any]) -> bool:
    strategy = json.dumps((rollout.get("spec") or {}).get("strategy") or {})
    return not any(
        f'"{key}"' in strategy
        for key in ("analysis", "analyses", "prePromotionAnalysis", "postPromotionAnalysis")
    )


def lacking() -> str:
    """The "What progressive lacks" section of docs/migration.md."""
    text = MIGRATION.read_text(encoding="utf-8")
    found = re.search(r"^### What progressive lacks\n(.*?)(?=^#|\Z)", text, re.M | re.S)
    assert found is not None, "docs/migration.md has no 'What progressive lacks' section"
    return found.group(1)


# -- the tests ---------------------------------------------------------------------------


def test_the_corpus_is_argos_examples_and_end_to_end_manifests() -> None:
    found = corpus()
    rollouts = sum(len(m.rollouts) for m in manifests())
    assert len(found) >= 70 and rollouts >= 70, (len(found), rollouts)
    assert {m.path.split("/")[0] for m in found} == {"examples", "test"}
    for path, error in NOT_MANIFESTS.items():
        (manifest,) = [m for m in found if m.path == path]
        assert any(error in line for line in manifest.refusals), manifest.refusals


@pytest.mark.parametrize("path", [m.path for m in manifests()])
def test_lint_accepts_or_names_what_progressive_lacks(path: str) -> None:
    (manifest,) = [m for m in manifests() if m.path == path]
    assert manifest.rollouts
    assert manifest.features() == set(REFUSED.get(path, ())), manifest.refusals


def test_every_refusal_names_a_feature_listed_in_the_migration_guide() -> None:
    entries = re.split(r"^- ", lacking(), flags=re.M)[1:]
    named = 0
    for manifest in manifests():
        for line in manifest.refusals:
            for pattern, _, needle in FEATURES:
                if (found := pattern.search(line)) is not None:
                    named += 1
                    text = needle.format(*found.groups())
                    assert any(text.lower() in entry.lower() for entry in entries), line
    assert named
    assert set(REFUSED) <= {m.path for m in manifests()}


@pytest.mark.parametrize(
    "path",
    [
        m.path
        for m in manifests()
        if m.path not in REFUSED and all(analysis_free(r) for r in m.rollouts)
    ],
)
def test_an_analysis_free_manifest_simulates_to_healthy(path: str) -> None:
    (manifest,) = [m for m in manifests() if m.path == path]
    documents = [d.raw for d in manifest.documents.documents]
    healthy = []
    for rollout in manifest.rollouts:
        others = [d for d in documents if d.get("kind") != "Rollout"]
        try:
            result = simulate([rollout, *others], {}, auto_promote=True)
        except Exception as exc:  # reported as the outcome
            healthy.append(f"{type(exc).__name__}: {exc}")
            continue
        healthy.append(result.phase if result.finished else f"unfinished {result.phase}")
    if path in BROKEN:
        assert len(healthy) == 1 and BROKEN[path] in healthy[0], healthy
        return
    assert healthy == ["Healthy"] * len(healthy)


# -- the report ----------------------------------------------------------------------------


def report() -> str:
    """The refusals grouped by reason, and the share of manifests lint accepts."""
    by_reason: dict[str, list[str]] = defaultdict(list)
    total = accepted = after_routers = 0
    for manifest in manifests():
        n = len(manifest.rollouts)
        total += n
        features = manifest.features()
        if not features:
            accepted += n
            after_routers += n
            continue
        routers = {f"the `{r}` router" for r in ROUTERS_TO_COME}
        if features <= routers:
            after_routers += n
        for line in manifest.refusals:
            by_reason[feature_of(line)].append(f"{manifest.path}: {line}")
    lines = []
    for reason, hits in sorted(by_reason.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        lines.append(f"{reason} ({len(hits)} lines)")
        lines += [f"    {hit}" for hit in hits]
    line = f"lint accepts {accepted} of {total} Rollouts ({100 * accepted / total:.1f}%)"
    if ROUTERS_TO_COME:
        line += (
            f"; with the {', '.join(sorted(ROUTERS_TO_COME))} routers: "
            f"{after_routers} ({100 * after_routers / total:.1f}%)"
        )
    lines.append(line)
    return "\n".join(lines)


if __name__ == "__main__":
    print(report())


def test_the_migration_guide_gives_the_corpus_figures() -> None:
    found, shipped = corpus(), manifests()
    accepted = len(shipped) - len(REFUSED)
    text = " ".join(MIGRATION.read_text().split())
    assert f"{len(found)} files hold a Rollout" in text
    assert f"{len(NOT_MANIFESTS)} are not manifests as shipped" in text
    assert f"of the {len(shipped)} left, `lint` accepts {accepted}" in text
    assert f"({100 * accepted // len(shipped)}%) and refuses {len(REFUSED)}" in text
