"""How a command finds the running local platform: its ``platform.json`` in the state directory."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from luca_infra.local.emulator import ensure_dummy_credentials
from luca_infra.local.platform_config import PlatformState


def running_state(state_dir: Path, err: Console) -> PlatformState | None:
    """The running platform's state, or None (said on ``err``) when none runs from ``state_dir``."""
    ensure_dummy_credentials()
    try:
        return PlatformState.read(state_dir)
    except FileNotFoundError as exc:
        err.print(str(exc), style="red", markup=False)
        return None
