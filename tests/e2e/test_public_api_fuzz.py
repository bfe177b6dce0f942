"""Schemathesis through the local gateway, from the document the gateway serves, as every caller
(teacher, student, admin, no token) with all checks: a bounded run (``make fuzz`` runs a long one)."""

from __future__ import annotations

from pathlib import Path

import pytest

from luca_infra.local.platform import LocalPlatform
from luca_testing.fuzz import fuzz_all

from .conftest import FUZZED_SCHOOL

pytestmark = pytest.mark.e2e
EXAMPLES_PER_OPERATION = 3


def test_the_public_api_keeps_its_document_for_every_caller(platform: LocalPlatform, tmp_path: Path) -> None:
    # A school of its own: the fuzzer's admin calls rewrite rules and rosters.
    tokens: dict[str, str | None] = {
        role: platform.token_for(FUZZED_SCHOOL.school_id, role) for role in ("teacher", "student", "admin")
    }
    tokens["anonymous"] = None

    runs = fuzz_all(platform.gateway_url, tokens, max_examples=EXAMPLES_PER_OPERATION, report_dir=tmp_path)

    assert all(run.cases > 0 for run in runs), [run.output[-2000:] for run in runs]
    failing = [run for run in runs if run.exit_code != 0]
    assert not failing, "\n\n".join(run.output[-6000:] for run in failing)
