"""The query service's composition root: settings in, the reports and the caller authenticator out.

Adapters are parameters (the real ones by default, fakes in tests); nothing is built at import.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from luca_analytics.adapters.athena_lake import AthenaLake
from luca_analytics.adapters.duckdb_lake import DuckDbLake
from luca_analytics.adapters.school_data import DynamoRoster
from luca_analytics.config import AnalyticsSettings
from luca_analytics.service_layer.reports import Lake, Reports, Roster, Rules
from luca_kernel.access import Principal
from luca_kernel.rule_cache import RuleCache
from luca_platform.aws import AwsClients
from luca_platform.contracts.rules import TableRules
from luca_platform.tokens import Authenticator, authenticator_from_settings


class PrincipalSource(Protocol):
    """What the entrypoints need from an authenticator (the real one, or a test's fake)."""

    def authenticate(self, authorization: str | None) -> Principal: ...


@dataclass(frozen=True, slots=True)
class Container:
    reports: Reports
    authenticator: PrincipalSource


def build_lake(settings: AnalyticsSettings) -> DuckDbLake | AthenaLake:
    """The lake the settings name: Athena in AWS, DuckDB over a bucket or a local directory otherwise."""
    if settings.athena_workgroup:
        return AthenaLake.connect(
            workgroup=settings.athena_workgroup,
            database=settings.athena_database,
            table=settings.athena_table,
            region=settings.aws_region,
            endpoint_url=settings.aws_endpoint_url,
            timeout_seconds=settings.athena_timeout_seconds,
        )
    if settings.lake_directory:
        return DuckDbLake.local(settings.lake_directory, duckdb_threads=settings.duckdb_threads)
    return DuckDbLake.s3(
        settings.lake_bucket,
        region=settings.aws_region,
        endpoint_url=settings.aws_endpoint_url,
        duckdb_threads=settings.duckdb_threads,
    )


def build_authenticator(settings: AnalyticsSettings) -> Authenticator:
    return authenticator_from_settings(settings)


def bootstrap(
    settings: AnalyticsSettings,
    *,
    lake: Lake | None = None,
    rules: Rules | None = None,
    roster: Roster | None = None,
    authenticator: PrincipalSource | None = None,
    clients: AwsClients | None = None,
) -> Container:
    if rules is None or roster is None:
        clients = clients or AwsClients.from_settings(settings)
        rules = rules or TableRules(
            clients, settings.table_name, RuleCache(ttl_seconds=settings.rule_cache_seconds)
        )
        roster = roster or DynamoRoster(clients, settings.table_name)
    reports = Reports(
        lake=lake or build_lake(settings),
        rules=rules,
        roster=roster,
        pseudonym_key=settings.pseudonym_key,
    )
    return Container(reports=reports, authenticator=authenticator or build_authenticator(settings))
