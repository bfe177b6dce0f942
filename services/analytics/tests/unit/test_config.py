"""The query service's settings: read from ``LUCA_*`` variables, refused at start when incomplete, and
the lake they name (DuckDB over a bucket or a directory, or Athena) is the one ``build_lake`` builds."""

from __future__ import annotations

from typing import Any

import pytest

from luca_analytics.adapters.athena_lake import AthenaLake
from luca_analytics.adapters.duckdb_lake import DuckDbLake
from luca_analytics.bootstrap import build_lake
from luca_analytics.config import AnalyticsSettings

BASE = {
    "LUCA_TABLE_NAME": "luca-platform",
    "LUCA_USER_POOL_ID": "us-east-1_pool",
    "LUCA_USER_POOL_CLIENT_ID": "client",
    "LUCA_PSEUDONYM_KEY": "k" * 64,
}
ATHENA = {
    "LUCA_ATHENA_WORKGROUP": "luca-analytics",
    "LUCA_ATHENA_DATABASE": "luca_lake",
    "LUCA_ATHENA_TABLE": "grades",
}


def settings(**environment: str) -> AnalyticsSettings:
    return AnalyticsSettings.from_environment({**BASE, **environment})


def test_athena_is_configured_by_its_three_names() -> None:
    found = settings(**ATHENA, LUCA_AWS_REGION="eu-west-1", LUCA_ATHENA_TIMEOUT_SECONDS="15")

    assert (found.athena_workgroup, found.athena_database, found.athena_table) == (
        "luca-analytics",
        "luca_lake",
        "grades",
    )
    assert found.athena_timeout_seconds == 15.0
    assert found.aws_region == "eu-west-1"
    assert found.pseudonym_key == b"k" * 64
    assert (found.lake_bucket, found.lake_directory) == ("", "")


def test_the_key_comes_from_the_environment_and_is_never_shown() -> None:
    found = settings(**ATHENA)
    assert "k" * 64 not in repr(found)


@pytest.mark.parametrize("missing", sorted(ATHENA))
def test_athena_needs_all_three_names(missing: str) -> None:
    partial = {name: value for name, value in ATHENA.items() if name != missing}
    with pytest.raises(RuntimeError, match=f"Athena needs all three .*not set: {missing}"):
        settings(**partial)


@pytest.mark.parametrize(
    "lakes",
    [
        {},
        {"LUCA_LAKE_BUCKET": "luca-lake", "LUCA_LAKE_DIRECTORY": "/srv/lake"},
        {"LUCA_LAKE_BUCKET": "luca-lake", **ATHENA},
        {"LUCA_LAKE_DIRECTORY": "/srv/lake", **ATHENA},
    ],
)
def test_exactly_one_lake(lakes: dict[str, str]) -> None:
    with pytest.raises(RuntimeError, match="set exactly one of LUCA_LAKE_BUCKET, LUCA_LAKE_DIRECTORY"):
        settings(**lakes)


@pytest.mark.parametrize("seconds", ["0", "-1", "601"])
def test_the_athena_timeout_is_bounded(seconds: str) -> None:
    with pytest.raises(RuntimeError, match="LUCA_ATHENA_TIMEOUT_SECONDS"):
        settings(**ATHENA, LUCA_ATHENA_TIMEOUT_SECONDS=seconds)


def test_no_pseudonym_key_no_service() -> None:
    with pytest.raises(RuntimeError, match="LUCA_PSEUDONYM_KEY"):
        AnalyticsSettings.from_environment({**BASE, **ATHENA, "LUCA_PSEUDONYM_KEY": ""})


def test_required_names_are_listed_when_missing() -> None:
    with pytest.raises(RuntimeError, match="not set: LUCA_TABLE_NAME, LUCA_USER_POOL_ID"):
        AnalyticsSettings.from_environment({"LUCA_USER_POOL_CLIENT_ID": "client", **ATHENA})


def test_build_lake_picks_athena(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    lake: Any = build_lake(settings(**ATHENA))
    assert isinstance(lake, AthenaLake)


def test_build_lake_picks_duckdb_for_a_directory(tmp_path: Any) -> None:
    assert isinstance(build_lake(settings(LUCA_LAKE_DIRECTORY=str(tmp_path))), DuckDbLake)
