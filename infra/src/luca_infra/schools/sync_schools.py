"""The government sync's list of schools (an SSM StringList the scheduled starter reads): a created
school joins it, an erased one leaves it.

A read-modify-write: two operators changing the list at the same moment could lose one change, so
creations are run one at a time (and a rerun of ``luca schools create`` puts a lost school back).
Entries that are not school ids (the stack's placeholder) are dropped on the way.
"""

from __future__ import annotations

from typing import Any

from luca_infra.definitions import SCHOOLS_PLACEHOLDER
from luca_kernel.ids import is_school_id


def _current(ssm: Any, name: str) -> set[str]:
    try:
        value = str(ssm.get_parameter(Name=name)["Parameter"]["Value"])
    except ssm.exceptions.ParameterNotFound:
        return set()
    return {school.strip() for school in value.split(",") if is_school_id(school.strip())}


def _write(ssm: Any, name: str, schools: set[str]) -> None:
    # A StringList cannot be empty: with no school left it holds the stack's placeholder again (the
    # parameter is the government sync stack's; deleting it would leave CloudFormation behind).
    value = ",".join(sorted(schools)) if schools else SCHOOLS_PLACEHOLDER
    ssm.put_parameter(Name=name, Value=value, Type="StringList", Overwrite=True)


def join(ssm: Any, name: str, school_id: str) -> bool:
    schools = _current(ssm, name)
    if school_id in schools:
        return False
    _write(ssm, name, schools | {school_id})
    return True


def leave(ssm: Any, name: str, school_id: str) -> bool:
    schools = _current(ssm, name)
    if school_id not in schools:
        return False
    _write(ssm, name, schools - {school_id})
    return True
