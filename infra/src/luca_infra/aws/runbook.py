"""The exact operator commands every alarm's description names, for one stage.

Plain Python (no CDK), so the alarm texts of the CDK app and of the onboarding tool's per-school
alarm (``school_alarm``) say the same thing. The command shapes are the ``luca`` CLI's
(``infra/src/luca_infra/cli``), with ``--stage NAME`` selecting the deployed stage's resources.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_STAGE = "prod"


@dataclass(frozen=True, slots=True)
class Runbook:
    stage: str = DEFAULT_STAGE

    def __post_init__(self) -> None:
        # The same rule as the stage's SSM parameter name (stage_resources.parameter_name).
        if not self.stage or not all(c.isalnum() or c in "-_" for c in self.stage):
            raise ValueError(f"a stage name is letters, digits, '-' and '_': {self.stage!r}")

    def _luca(self, command: str) -> str:
        return f"`luca {command} --stage {self.stage}`"

    @property
    def events_dlq(self) -> str:
        return (
            f"Run {self._luca('dlq list')} to see why each event fails, fix the cause, then "
            f"{self._luca('dlq redrive --all')}."
        )

    @property
    def sync_dlq(self) -> str:
        return (
            f"Run {self._luca('sync dlq')} to see the batches and why they failed, fix the cause, then "
            f"{self._luca('sync redrive')} (each batch lands at most once at the ministry)."
        )

    def sync_start(self, *, period: str = "<period>", school: str | None = "<school_id>") -> str:
        """A sync start by hand: one school's, or every listed school's with ``school=None``."""
        which = f" --school {school}" if school else ""
        return self._luca(f"sync start --period {period}{which}")

    def sync_status(self) -> str:
        return self._luca("sync status --period <period> --school <school_id>")

    def trace(self) -> str:
        return self._luca("trace <correlation_id>")

    def events_show(self) -> str:
        return self._luca("events show --school <school_id> --student <student_id>")
