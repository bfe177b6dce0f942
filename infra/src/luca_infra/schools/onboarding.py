"""``luca schools create``: a school, from nothing to ready, in steps that can each run again.

The record is written first (status ``creating``) and marked ``active`` last; every step between is
idempotent (an invitation already sent, a key already in its plan, a rule already there, an alarm
put again), so rerunning the command finishes a creation that stopped half-way. A record that asks for
a different school (another name, enrolment, tier or admin) is refused, and so is an id whose
partitions already hold data without a record (a school from before these tools).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from luca_infra.schools import sync_schools
from luca_infra.schools.audit import caller
from luca_infra.schools.record import ACTIVE, CREATING, SchoolRecord
from luca_infra.schools.rules import school_default_rule
from luca_infra.schools.stage_access import StageAccess
from luca_kernel.ids import SchoolId, school_id
from luca_platform.contracts.roster import catalog_pk
from luca_platform.contracts.rules import rule_item


class Refused(Exception):
    """The request cannot be done as asked; said to the operator as it is."""


@dataclass(frozen=True, slots=True)
class CreateRequest:
    school_id: str
    name: str
    enrolment: int
    admin_email: str
    tier: str | None = None


@dataclass
class CreateResult:
    record: SchoolRecord
    resumed: bool
    # Step -> what it did ("created", "already there", ...), in the order they ran.
    steps: dict[str, str] = field(default_factory=dict)


STEPS = ("record", "admin", "edge key", "grading rules", "alarm", "government sync", "active")


def create(
    access: StageAccess, request: CreateRequest, on_step: Callable[[str], None] = lambda _: None
) -> CreateResult:
    school = _checked(access, request)
    throttling = access.definition.throttling
    tier = (
        throttling.tier(request.tier).name
        if request.tier
        else throttling.tier_for_enrolment(request.enrolment).name
    )
    wanted = SchoolRecord(
        school_id=school,
        name=request.name,
        enrolment=request.enrolment,
        tier=tier,
        admin_email=request.admin_email,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    table = access.table(school)
    existing = table.record()
    if existing is None and table.keys_of([catalog_pk(school)]):
        raise Refused(
            f"school {school} already holds data but has no record: it was not created with these tools"
        )
    if existing is not None and not existing.same_school(wanted):
        raise Refused(
            f"school {school} exists as another school ({existing.name!r}, enrolment {existing.enrolment}, "
            f"tier {existing.tier}, admin {existing.admin_email}); pick another id"
        )
    result = CreateResult(record=existing or wanted, resumed=existing is not None)

    def step(name: str, outcome: str) -> None:
        result.steps[name] = outcome
        on_step(name)

    if existing is None:
        table.put_new(wanted.to_item())
        step("record", "created")
    else:
        step("record", f"found ({existing.status})")
    created = access.identities.invite_admin(school, request.admin_email)
    step("admin", "invited" if created else "already invited")
    _key, key_created = access.edge.ensure_key(school, tier)
    step("edge key", f"created in tier {tier}" if key_created else f"already in tier {tier}")
    wrote = table.put_new(rule_item(SchoolId(school), school_default_rule()))
    step("grading rules", "default rule written" if wrote else "already set")
    alarm = access.alarm.put(school, access.target.resources.alerts_topic_arn)
    step("alarm", alarm)
    joined = sync_schools.join(access.client("ssm"), access.schools_parameter(), school)
    step("government sync", "joined the schedule" if joined else "already scheduled")
    if result.record.status != ACTIVE:
        result.record = replace(result.record, status=ACTIVE)
        table.put_record(result.record)
    step("active", "yes")
    access.audit.record(
        "create",
        school,
        stage=access.stage,
        tier=tier,
        enrolment=request.enrolment,
        resumed=result.resumed,
        steps=result.steps,
        by=caller(access.client("sts")),
    )
    return result


def _checked(access: StageAccess, request: CreateRequest) -> str:
    try:
        school = school_id(request.school_id)
    except ValueError as exc:
        raise Refused(str(exc)) from exc
    if request.enrolment < 0:
        raise Refused("enrolment is a number of students (0 or more)")
    if "@" not in request.admin_email:
        raise Refused(f"not an email address: {request.admin_email!r}")
    if not request.name.strip():
        raise Refused("a school needs a name")
    if request.tier is not None:
        try:
            access.definition.throttling.tier(request.tier)
        except ValueError as exc:
            raise Refused(str(exc)) from exc
    return school


__all__ = ["CREATING", "STEPS", "CreateRequest", "CreateResult", "Refused", "create"]
