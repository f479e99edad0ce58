"""The rights the least-privilege install leaves out, and how to grant them: for the
error a refused request becomes (a job metric, a Secret, ``spec.restartAt``).

Kept below the metric providers and the shell that raise those errors, and below
:mod:`progressive._deploy` (which renders the install from the routers' declarations,
so sits above them); :class:`progressive._deploy.InstallOptions` has a field for each
key of :data:`GRANTS` (a test checks the flags and Helm values are real)."""

from __future__ import annotations

from typing import Final

__all__ = ["GRANTS", "how_to_grant"]

#: The rights the least-privilege install leaves out, by ``InstallOptions`` field: the
#: ``progressive install`` option and the Helm value that grant them.
GRANTS: Final = {
    "analysis_secrets": ("--analysis-secrets", "rbac.analysisSecrets"),
    "job_provider": ("--job-provider", "rbac.jobProvider"),
    "restarts": ("--restarts", "rbac.restarts"),
}


def how_to_grant(option: str, namespace: str = "") -> str:
    """What to install to grant ``option`` (a :data:`GRANTS` key), for the error a
    refused request becomes: ``progressive install --job-provider (Helm:
    rbac.jobProvider=true)``; Secrets are granted per namespace."""
    flag, value = GRANTS[option]
    if option == "analysis_secrets":
        return f"progressive install {flag}={namespace} (Helm: {value}={{{namespace}}})"
    return f"progressive install {flag} (Helm: {value}=true)"
