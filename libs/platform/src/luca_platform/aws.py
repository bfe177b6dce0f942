"""Long-lived, pooled AWS clients, and per-school DynamoDB clients on scoped credentials.

In AWS the service never touches the table with its own identity: its task role may only assume
the tenant role, tagging the session with ``school_id``; the tenant role's policy allows only keys
that start with ``SCHOOL#<that tag>#``. So each school gets one DynamoDB client, created once and
kept for the life of the process, whose credentials refresh themselves (botocore's
RefreshableCredentials calls AssumeRole again shortly before expiry). Every client shares one
botocore session and the same connection settings.

botocore, not boto3: boto3 adds nothing to a DynamoDB or STS client, but its import adds s3transfer
and its resource layer to every Lambda cold start.

A batch of several schools (the grade processor's) instead gets one client on the batch role,
narrowed by a session policy to exactly its schools (``dynamodb_for_schools``, ``batch_access``).

Without a tenant role configured (unit tests against a bare emulator), one shared client is used.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

import botocore.session
from botocore.config import Config
from botocore.credentials import RefreshableCredentials
from cachetools import LRUCache

from luca_platform import batch_access

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sts import STSClient

    from luca_platform.settings import AwsSettings

CLIENT_CONFIG = Config(
    max_pool_connections=64,
    retries={"mode": "standard", "max_attempts": 4},
    connect_timeout=2,
    read_timeout=5,
    tcp_keepalive=True,
    # The service validates every request itself; the client's own walk over each parameter was a
    # third of the grade processor's CPU (a batch's items are typed by the table codec, never by hand).
    parameter_validation=False,
)


class AwsClients:
    """The process's AWS clients. Created once in the composition root."""

    def __init__(
        self,
        *,
        region: str,
        endpoint_url: str | None = None,
        tenant_role_arn: str | None = None,
        session_tag: str = "school_id",
        session_seconds: int = 3600,
        refresh_margin_seconds: int = 300,
        max_schools: int = 2048,
        batch_role_arn: str | None = None,
        batch_session_seconds: int = 900,
    ) -> None:
        self._region = region
        self._endpoint_url = endpoint_url
        self._tenant_role_arn = tenant_role_arn
        self._session_tag = session_tag
        self._session_seconds = session_seconds
        self._refresh_margin = refresh_margin_seconds
        self._base = botocore.session.Session()
        self._lock = threading.Lock()
        self._school_clients: LRUCache[str, DynamoDBClient] = LRUCache(maxsize=max_schools)
        self._shared: DynamoDBClient | None = None
        self._sts: STSClient | None = None
        self._batch_role_arn = batch_role_arn
        self._batch_session_seconds = batch_session_seconds
        # A batch's schools -> (client, monotonic time its credentials stop being used).
        self._batch_clients: LRUCache[frozenset[str], tuple[DynamoDBClient, float]] = LRUCache(maxsize=64)
        self.clients_created = 0
        self.assume_role_calls = 0

    @classmethod
    def from_settings(cls, settings: AwsSettings, *, batch_role_arn: str | None = None) -> AwsClients:
        """The clients a service's settings describe: one way, one set of refresh settings."""
        return cls(
            region=settings.aws_region,
            endpoint_url=settings.aws_endpoint_url,
            tenant_role_arn=settings.tenant_role_arn,
            session_seconds=settings.tenant_session_seconds,
            refresh_margin_seconds=settings.tenant_refresh_margin_seconds,
            batch_role_arn=batch_role_arn,
        )

    @property
    def scoped(self) -> bool:
        return self._tenant_role_arn is not None

    def sts(self) -> STSClient:
        with self._lock:
            if self._sts is None:
                self._sts = cast(
                    "STSClient",
                    self._base.create_client(
                        "sts", region_name=self._region, endpoint_url=self._endpoint_url, config=CLIENT_CONFIG
                    ),
                )
            return self._sts

    def dynamodb_for(self, school_id: str) -> DynamoDBClient:
        """The DynamoDB client that acts for ``school_id`` (its own credentials in AWS)."""
        if not self.scoped:
            with self._lock:
                if self._shared is None:
                    self._shared = self._make_client(self._base)
                return self._shared
        with self._lock:
            client = self._school_clients.get(school_id)
        if client is not None:
            return client
        client = self._make_client(self._scoped_session(school_id))
        with self._lock:
            # Another thread may have won; keep one client per school.
            return self._school_clients.setdefault(school_id, client)

    def dynamodb_for_schools(self, schools: Collection[str], actions: Sequence[str]) -> DynamoDBClient:
        """One client for every school in ``schools`` and no other (a batch's session in AWS).

        The caller groups a batch's schools first (``batch_access.group_schools``) so that each
        group's session policy fits. The client lives as long as its credentials, minus the margin:
        a school set seen again (a one-school batch, the next batch of the same recess) reuses it.
        """
        group = frozenset(schools)
        if not group:
            raise ValueError("a batch client needs at least one school")
        if self._batch_role_arn is None:
            if self.scoped:  # per-school sessions only: never fall back to an unscoped client
                raise RuntimeError("a batch of schools needs the batch role (LUCA_BATCH_ROLE_ARN)")
            return self.dynamodb_for(next(iter(group)))
        now = time.monotonic()
        with self._lock:
            cached = self._batch_clients.get(group)
        if cached is not None and cached[1] > now:
            return cached[0]
        policy = batch_access.session_policy(group, actions)
        self.assume_role_calls += 1
        creds = self.sts().assume_role(
            RoleArn=self._batch_role_arn,
            RoleSessionName=f"luca-batch-{len(group)}-schools",
            DurationSeconds=self._batch_session_seconds,
            Policy=policy,
        )["Credentials"]
        with self._lock:
            # Static credentials on the shared session: a client costs milliseconds, not a session.
            self.clients_created += 1
            client = cast(
                "DynamoDBClient",
                self._base.create_client(
                    "dynamodb",
                    region_name=self._region,
                    endpoint_url=self._endpoint_url,
                    config=CLIENT_CONFIG,
                    aws_access_key_id=creds["AccessKeyId"],
                    aws_secret_access_key=creds["SecretAccessKey"],
                    aws_session_token=creds["SessionToken"],
                ),
            )
            usable_until = now + max(self._batch_session_seconds - self._refresh_margin, 0)
            self._batch_clients[group] = (client, usable_until)
        return client

    def _make_client(self, session: botocore.session.Session) -> DynamoDBClient:
        self.clients_created += 1
        client = session.create_client(
            "dynamodb", region_name=self._region, endpoint_url=self._endpoint_url, config=CLIENT_CONFIG
        )
        return cast("DynamoDBClient", client)

    def _scoped_session(self, school_id: str) -> botocore.session.Session:
        credentials = RefreshableCredentials.create_from_metadata(
            metadata=self._assume(school_id)(),
            refresh_using=self._assume(school_id),
            method="sts-assume-role",
        )
        # Refresh well before expiry so no request ever signs with credentials about to lapse.
        credentials._advisory_refresh_timeout = self._refresh_margin + 60  # type: ignore[attr-defined]
        credentials._mandatory_refresh_timeout = self._refresh_margin  # type: ignore[attr-defined]
        core = botocore.session.Session()
        core._credentials = credentials  # type: ignore[attr-defined]  # botocore's documented injection point
        return core

    def _assume(self, school_id: str) -> Callable[[], dict[str, Any]]:
        def fetch() -> dict[str, Any]:
            assert self._tenant_role_arn is not None
            self.assume_role_calls += 1
            response = self.sts().assume_role(
                RoleArn=self._tenant_role_arn,
                RoleSessionName=f"luca-school-{school_id}"[:64],
                DurationSeconds=self._session_seconds,
                Tags=[{"Key": self._session_tag, "Value": school_id}],
            )
            creds = response["Credentials"]
            expiry = creds["Expiration"]
            if isinstance(expiry, datetime) and expiry.tzinfo is None:
                expiry = expiry.replace(tzinfo=UTC)
            return {
                "access_key": creds["AccessKeyId"],
                "secret_key": creds["SecretAccessKey"],
                "token": creds["SessionToken"],
                "expiry_time": expiry.isoformat() if isinstance(expiry, datetime) else str(expiry),
            }

        return fetch
