"""What the lifecycle use cases reach on a stage (or the local platform), from one ``Target``.

Every read or write of a school's items goes through ``table(school)``: a client on the tenant role
tagged with that school, never the operator's own credentials (which hold no table permission).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from botocore.config import Config

from luca_infra.definitions import PLATFORM_DEFINITION, PlatformDefinition
from luca_infra.schools.alarm import SchoolAlarm
from luca_infra.schools.audit import AuditTrail
from luca_infra.schools.edge import SchoolEdge
from luca_infra.schools.identities import SchoolIdentities
from luca_infra.schools.lake import SchoolLake
from luca_infra.schools.school_table import SchoolTable
from luca_infra.stage_resources import LOG_TENANT_AUDIT
from luca_platform.aws import AwsClients

if TYPE_CHECKING:
    from luca_infra.cli.stage import Target


ADAPTIVE_RETRIES = Config(retries={"mode": "adaptive", "max_attempts": 10})


@dataclass
class StageAccess:
    target: Target
    definition: PlatformDefinition = PLATFORM_DEFINITION
    _clients: dict[str, Any] = field(default_factory=dict)

    @property
    def stage(self) -> str:
        return self.target.stage

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.target.client(service)
        return self._clients[service]

    @cached_property
    def _tenant(self) -> AwsClients:
        resources = self.target.resources
        return AwsClients(
            region=self.target.region,
            endpoint_url=self.target.endpoint_url,
            tenant_role_arn=resources.tenant_role_arn,
            session_tag=self.definition.tenant_role.session_tag,
        )

    def table(self, school_id: str) -> SchoolTable:
        return SchoolTable(self._tenant.dynamodb_for(school_id), self.target.resources.table_name, school_id)

    @cached_property
    def identities(self) -> SchoolIdentities:
        return SchoolIdentities(
            self.client("cognito-idp"), self.target.resources.user_pool_id, self.definition.user_pool
        )

    @cached_property
    def edge(self) -> SchoolEdge:
        # CreateApiKey allows 5 calls a second per account and cannot be raised: the SDK's adaptive
        # retry mode slows this client down when API Gateway throttles it, so a script creating many
        # schools paces itself instead of failing.
        apigateway = self.target.client("apigateway", ADAPTIVE_RETRIES)
        return SchoolEdge(apigateway, self.definition.throttling)

    @cached_property
    def alarm(self) -> SchoolAlarm:
        return SchoolAlarm(self.client("cloudwatch"), self.stage, self.definition)

    @cached_property
    def lake(self) -> SchoolLake:
        return SchoolLake(self.client("s3"), self.target.resources.lake_bucket)

    @cached_property
    def audit(self) -> AuditTrail:
        return AuditTrail(self.client("logs"), self.target.resources.log_groups.get(LOG_TENANT_AUDIT, ""))

    def schools_parameter(self) -> str:
        return self.definition.govsync.schools_parameter
