"""The one error the local control plane raises."""

from __future__ import annotations

__all__ = ["ControlPlaneError"]


class ControlPlaneError(RuntimeError):
    """Building, starting, stopping or talking to the local control plane failed; the
    message says which step and, where there is one, which log to read."""
