"""Where an operations command runs: a deployed stage (``--stage NAME``) or the local platform.

Both end in one ``Target``: the stage's resources document (``luca_infra.stage_resources``) and the
AWS clients to reach them. Every command then runs the same code on it.

- ``--stage prod``: the document from SSM ``/luca/prod/resources``; credentials, region and endpoint
  from boto3's default chain (AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL), nothing else.
- no ``--stage``: the local platform's ``platform.json`` names the emulator; the document is the one
  the platform publishes there as stage ``local``, or, when a platform predating it runs, one built
  from ``platform.json`` so the commands keep working.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError
from rich.console import Console

from luca_infra import stage_resources
from luca_infra.definitions import PLATFORM_DEFINITION
from luca_infra.local.emulator import ensure_dummy_credentials
from luca_infra.local.platform_config import DEFAULT_STATE_DIR, PlatformState
from luca_infra.stage_resources import LOCAL_STAGE, StageResources

if TYPE_CHECKING:
    from mypy_boto3_ssm import SSMClient

# Exit codes: the usual ``1`` for "could not do it", ``2`` for "asked for something that is not there"
# (a stage without a resources document, a malformed stage name), like argparse's usage errors.
NOT_RUNNING = 1
NO_SUCH_STAGE = 2


class TargetUnavailable(Exception):
    """The command cannot find what it should run against; said to the operator, never a traceback."""

    def __init__(self, message: str, exit_code: int = NOT_RUNNING) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class Target:
    """What a command runs against: the resources and the clients that reach them."""

    resources: StageResources
    session: boto3.session.Session
    # The emulator's URL locally; None on a stage, where botocore itself honours AWS_ENDPOINT_URL.
    endpoint_url: str | None = None
    # Local-only extras, absent on a stage: the schools the demo platform enrolled (used when the
    # starter's schools parameter is missing) and the lake pipeline's EMF file.
    local_schools: tuple[str, ...] = ()
    lake_metrics_file: str = ""
    # The local platform's span file: a command's own spans go there, beside the platform's.
    traces_file: str = ""

    @property
    def stage(self) -> str:
        return self.resources.stage

    @property
    def region(self) -> str:
        return self.resources.region

    def client(self, service: str, config: Config | None = None) -> Any:
        session: Any = self.session  # one generic call for every service the commands use
        return session.client(service, region_name=self.region, endpoint_url=self.endpoint_url, config=config)

    def schools(self) -> list[str]:
        """Every school the scheduled sync would start: the starter's SSM list (onboarding appends to it)."""
        ssm = self.client("ssm")
        try:
            value = ssm.get_parameter(Name=PLATFORM_DEFINITION.govsync.schools_parameter)["Parameter"][
                "Value"
            ]
        except ssm.exceptions.ParameterNotFound:
            return sorted(self.local_schools)
        return sorted({school for school in str(value).split(",") if school})


def add_target_arguments(parser: argparse.ArgumentParser) -> None:
    """``--stage`` and ``--state-dir``: the two ways of saying where a command runs."""
    parser.add_argument(
        "--stage",
        help="a deployed stage (e.g. prod): resources from SSM /luca/<stage>/resources, credentials "
        "from the AWS chain (AWS_PROFILE, AWS_REGION); default: the local platform",
    )
    parser.add_argument(
        "--state-dir", type=Path, default=DEFAULT_STATE_DIR, help="the local platform's state directory"
    )


def resolve(args: argparse.Namespace) -> Target:
    stage = getattr(args, "stage", None)
    if stage:
        return deployed(stage)
    return local(getattr(args, "state_dir", DEFAULT_STATE_DIR))


def deployed(stage: str, session: boto3.session.Session | None = None) -> Target:
    session = session or boto3.session.Session()
    try:
        ssm: SSMClient = session.client("ssm")
        resources = stage_resources.load(ssm, stage)
    except (ValueError, stage_resources.StageNotFound) as exc:  # UnsupportedDocument is a ValueError
        raise TargetUnavailable(str(exc), NO_SUCH_STAGE) from exc
    except NoRegionError as exc:
        raise TargetUnavailable(
            "no AWS region: set AWS_REGION or the profile's region", NO_SUCH_STAGE
        ) from exc
    except NoCredentialsError as exc:
        raise TargetUnavailable("no AWS credentials: set AWS_PROFILE or sign in (aws sso login)") from exc
    except (ClientError, BotoCoreError) as exc:
        raise TargetUnavailable(f"cannot read stage {stage!r}'s resources: {exc}") from exc
    return Target(resources=resources, session=session)


def local(state_dir: Path) -> Target:
    ensure_dummy_credentials()  # the emulator's; a real profile must not reach it
    try:
        state = PlatformState.read(state_dir)
    except FileNotFoundError as exc:
        raise TargetUnavailable(str(exc)) from exc
    session = boto3.session.Session(region_name=state.region)
    ssm: SSMClient = session.client("ssm", endpoint_url=state.emulator_url)
    try:
        resources = stage_resources.load(ssm, LOCAL_STAGE)
    except stage_resources.StageNotFound:
        resources = from_platform_state(state)
    except (ClientError, BotoCoreError, ValueError) as exc:
        raise TargetUnavailable(f"the local platform at {state.emulator_url} does not answer: {exc}") from exc
    return Target(
        resources=resources,
        session=session,
        endpoint_url=state.emulator_url,
        local_schools=tuple(state.users),
        lake_metrics_file=state.lake_metrics_file,
        traces_file=state.traces_file,
    )


def from_platform_state(state: PlatformState) -> StageResources:
    """The ``local`` document of a platform that did not publish one (started before it did)."""
    return StageResources(
        stage=LOCAL_STAGE,
        region=state.region,
        table_name=state.table_name,
        tenant_role_arn=state.tenant_role_arn,
        batch_role_arn=state.batch_role_arn,
        events_queue_url=state.events_queue_url,
        events_dlq_url=state.events_dlq_url,
        govsync_state_machine_arn=state.govsync_state_machine_arn,
        govsync_dlq_url=state.govsync_dlq_url,
        govsync_manifest_bucket=state.govsync_manifest_bucket,
        lake_bucket=state.lake_bucket,
    )


def resolve_or_report(args: argparse.Namespace, err: Console) -> Target | int:
    """The target, or the exit code after saying on ``err`` why there is none."""
    try:
        return resolve(args)
    except TargetUnavailable as exc:
        err.print(str(exc), style="red", markup=False)
        return exc.exit_code
