"""The platform's parts the lake benchmark talks to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3
import pyarrow.fs as pafs

from luca_analytics.adapters.duckdb_lake import DuckDbLake
from luca_analytics.adapters.lake_schema import LAKE_PREFIX
from luca_grading.adapters.dynamodb_repository import DynamoRepositoryFactory
from luca_infra.local.lake import LocalLake
from luca_infra.local.platform import LocalPlatform
from luca_infra.local.provision import ProvisionedResources
from luca_platform.aws import AwsClients


@dataclass
class Bench:
    platform: LocalPlatform
    resources: ProvisionedResources
    lake: LocalLake
    clients: AwsClients
    repositories: DynamoRepositoryFactory
    s3: Any
    filesystem: pafs.S3FileSystem
    duck: DuckDbLake

    @property
    def root(self) -> str:
        return f"{self.lake.bucket}/{LAKE_PREFIX}"

    def records_read(self) -> int:
        """Stream records the poller has read so far."""
        assert self.lake.poller is not None
        return self.lake.poller.counters.records_read


def connect(platform: LocalPlatform) -> Bench:
    """The started platform's table, lake and bucket, on the emulator's endpoint."""
    resources, lake = platform.resources, platform.lake
    assert lake is not None
    clients = AwsClients(
        region=resources.region,
        endpoint_url=resources.endpoint_url,
        tenant_role_arn=resources.tenant_role_arn,
    )
    host = resources.endpoint_url.split("://", 1)[1]
    return Bench(
        platform=platform,
        resources=resources,
        lake=lake,
        clients=clients,
        repositories=DynamoRepositoryFactory(clients=clients, table_name=resources.table_name),
        s3=boto3.client("s3", region_name=resources.region, endpoint_url=resources.endpoint_url),
        filesystem=pafs.S3FileSystem(endpoint_override=host, scheme="http", region=resources.region),
        duck=DuckDbLake.s3(lake.bucket, region=resources.region, endpoint_url=resources.endpoint_url),
    )
