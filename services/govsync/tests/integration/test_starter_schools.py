"""Which schools the scheduled starter syncs: the SSM list onboarding keeps, without its placeholder."""

from __future__ import annotations

import uuid

import boto3

from luca_govsync.bootstrap import build_starter
from luca_govsync.config import StarterSettings
from luca_testing.emulator import REGION


def test_the_starter_syncs_the_listed_school_ids_and_skips_the_placeholder(emulator_endpoint: str) -> None:
    ssm = boto3.client("ssm", region_name=REGION, endpoint_url=emulator_endpoint)
    parameter = f"/luca/govsync/schools-{uuid.uuid4().hex[:8]}"
    settings = StarterSettings(
        state_machine_arn="arn:aws:states:us-east-1:123456789012:stateMachine:unused",
        schools_parameter=parameter,
        table_name="unused",
        aws_region=REGION,
        aws_endpoint_url=emulator_endpoint,
    )
    _, schools = build_starter(settings)

    # What the stack creates the list with (a StringList cannot be empty), and what it holds again
    # once the last school has been erased.
    ssm.put_parameter(Name=parameter, Type="StringList", Value="#replace-with-the-school-ids#")
    assert schools() == []

    ssm.put_parameter(
        Name=parameter,
        Type="StringList",
        Value="school-a, #replace-with-the-school-ids#,school-b",
        Overwrite=True,
    )
    assert schools() == ["school-a", "school-b"]
