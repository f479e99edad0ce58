from __future__ import annotations

from collections.abc import Iterator

import pytest

from progressive.metrics import set_testing


@pytest.fixture(autouse=True)
def no_retry_waits() -> Iterator[None]:
    """Retries still happen, without waiting between attempts."""
    set_testing(True)
    yield
    set_testing(False)
