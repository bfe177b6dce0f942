"""The embedded AWS emulator (moto's server) for tests, and what most emulator tests set up on it.

moto's state is process-wide: tests share one server per session and use unique resource names.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import boto3

from luca_platform.table import keys

REGION = "us-east-1"


@contextmanager
def running_emulator() -> Iterator[str]:
    """moto's server on loopback, on a free port; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    for variable, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
        os.environ.setdefault(variable, value)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def create_table(endpoint: str, name: str | None = None, *, region: str = REGION) -> str:
    """The platform's table (its one definition, TTL on) under ``name`` or a fresh unique name."""
    name = name or f"luca-test-{uuid.uuid4().hex[:8]}"
    client = boto3.client("dynamodb", region_name=region, endpoint_url=endpoint)
    client.create_table(**keys.create_table_request(name))  # type: ignore[arg-type]
    client.update_time_to_live(**keys.time_to_live_request(name))  # type: ignore[arg-type]
    return name


def batch_role(endpoint: str, *, region: str = REGION) -> str:
    """A role to assume with a session policy (moto evaluates neither its policy nor the session's)."""
    iam = boto3.client("iam", region_name=region, endpoint_url=endpoint)
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
    }
    name = f"batch-{uuid.uuid4().hex[:8]}"
    return iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]


def tenant_role(endpoint: str, *, region: str = REGION) -> str:
    """A role to assume with a school session tag (moto does not evaluate its conditions)."""
    iam = boto3.client("iam", region_name=region, endpoint_url=endpoint)
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": ["sts:AssumeRole", "sts:TagSession"]}
        ],
    }
    name = f"tenant-{uuid.uuid4().hex[:8]}"
    return iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
