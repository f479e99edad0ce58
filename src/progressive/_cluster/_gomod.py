"""The Go toolchain as this package uses it: an environment that never switches
toolchains nor reads a workspace, ``go mod download -json`` to find a module's folder in
the module cache, and the two facts read from a ``go.mod`` (its staging modules and the
version it requires of a module)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

import attrs

from ..errors import ControlPlaneError

__all__ = [
    "ModuleInfo",
    "go_binary",
    "go_env",
    "module_download",
    "required_version",
    "staging_modules",
]

# Every go command here: the local toolchain only (no download of another one), no
# go.work from an enclosing folder, static binaries.
_BASE_ENV = {"GOWORK": "off", "GOTOOLCHAIN": "local", "CGO_ENABLED": "0"}


def go_binary() -> str:
    found = shutil.which("go")
    if found is None:
        raise ControlPlaneError(
            "the local control plane is built from Go modules: install Go >= 1.26 "
            "(`go` is not on the PATH)"
        )
    return found


def go_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(_BASE_ENV)
    if extra:
        env.update(extra)
    return env


@attrs.frozen
class ModuleInfo:
    path: str
    version: str
    dir: Path
    gomod: Path

    def gomod_text(self) -> str:
        return self.gomod.read_text(encoding="utf-8")


def module_download(path: str, version: str, *, timeout: float = 600.0) -> ModuleInfo:
    """``go mod download -json PATH@VERSION``: the module's folder in the module cache
    (downloaded through the module proxy the first time, read from the cache after)."""
    # Run outside any module so that no go.mod around the caller's folder is consulted.
    with tempfile.TemporaryDirectory(prefix="progressive-gomod-") as cwd:
        proc = subprocess.run(
            [go_binary(), "mod", "download", "-json", f"{path}@{version}"],
            cwd=cwd,
            env=go_env({"GOFLAGS": ""}),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    try:
        info = json.loads(proc.stdout) if proc.stdout.strip() else {}
    except json.JSONDecodeError:
        info = {}
    error = info.get("Error") or (proc.stderr.strip() if proc.returncode else "")
    if error or "Dir" not in info:
        raise ControlPlaneError(f"go mod download {path}@{version}: {error or proc.stdout}")
    return ModuleInfo(path, str(info["Version"]), Path(info["Dir"]), Path(info["GoMod"]))


_REQUIRE_ZERO = re.compile(r"^\s*(?:require\s+)?(k8s\.io/[\w.\-/]+)\s+v0\.0\.0\s*(?://.*)?$", re.M)
_REPLACE_STAGING = re.compile(r"^\s*(?:replace\s+)?(k8s\.io/[\w.\-/]+)\s*=>\s*\./staging/", re.M)


def staging_modules(gomod_text: str) -> list[str]:
    """The modules that k8s.io/kubernetes takes from its own ``staging/`` folder: the
    ``k8s.io/* v0.0.0`` requirements and the ``=> ./staging/...`` replacements (some
    staging modules, the samples, are replaced without being required)."""
    found = set(_REQUIRE_ZERO.findall(gomod_text)) | set(_REPLACE_STAGING.findall(gomod_text))
    return sorted(found)


def required_version(gomod_text: str, module: str) -> str | None:
    """The version a ``go.mod`` requires of ``module`` (None if it requires none)."""
    pattern = re.compile(rf"^\s*(?:require\s+)?{re.escape(module)}\s+(v\S+)", re.M)
    match = pattern.search(gomod_text)
    return match.group(1) if match else None
