"""Pytest fixtures every suite may use: import them into a ``conftest.py``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from luca_testing.emulator import running_emulator


@pytest.fixture(scope="session")
def emulator_endpoint() -> Iterator[str]:
    """moto's server on loopback for this test session (its state is process-wide: use unique names)."""
    with running_emulator() as endpoint:
        yield endpoint
