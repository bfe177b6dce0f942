"""One credential for a batch of several schools: a session policy naming exactly those schools.

The grade processor's batches mix schools (at recess, many schools' students at once). Per-school
sessions cost one read and one write call per school in a batch; this gives the batch one session
on the batch role, narrowed by an inline session policy to the leading keys of exactly the batch's
schools. IAM takes the intersection of the role's policy (``SCHOOL#*``) and the session policy, so
the credential can touch no school outside the batch (docs/decisions/0011-burst-write-path.md).

AWS caps a session policy at 2,048 characters of plain text, so a batch whose schools do not fit in
one policy is split into as few groups as fit (``group_schools``); each group is one session.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence

from luca_kernel.ids import school_id as checked_school_id
from luca_platform.table.keys import school_prefix

# AWS's limit on an inline session policy's plain text (AssumeRole ``Policy``).
SESSION_POLICY_MAX_CHARS = 2048


def leading_key_pattern(school_id: str) -> str:
    """``SCHOOL#<id>#*``: every key of the school and nothing of a school whose id merely starts so.

    Only a well-formed school id (no ``*``, ``?``, ``$`` or ``#``, which would widen the pattern)."""
    return school_prefix(checked_school_id(school_id)) + "*"


def session_policy(schools: Collection[str], actions: Sequence[str]) -> str:
    """The compact session policy allowing ``actions`` only on the leading keys of ``schools``.

    The resource is left to the role's own policy (the table and its indexes): a session policy
    can only narrow what the role allows, and the shorter text leaves room for more schools.
    """
    if not schools:
        raise ValueError("a batch session needs at least one school")
    document = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": list(actions),
                "Resource": "*",
                "Condition": {
                    "ForAllValues:StringLike": {
                        "dynamodb:LeadingKeys": [leading_key_pattern(school) for school in sorted(schools)]
                    }
                },
            }
        ],
    }
    return json.dumps(document, separators=(",", ":"))


def group_schools(
    schools: Collection[str], actions: Sequence[str], *, max_chars: int = SESSION_POLICY_MAX_CHARS
) -> list[tuple[str, ...]]:
    """The schools in as few groups as have a session policy within ``max_chars``, in id order."""
    ordered = sorted(set(schools))
    if not ordered:
        return []
    # A policy's length is its fixed text plus each school's quoted pattern and a comma between:
    # counted, not rebuilt per school (a batch of 50 schools would rebuild it 50 times).
    sizes = [len(json.dumps(leading_key_pattern(school))) for school in ordered]
    fixed = len(session_policy(ordered[:1], actions)) - sizes[0]
    groups: list[tuple[str, ...]] = []
    current: list[str] = []
    length = fixed
    for school, size in zip(ordered, sizes, strict=True):
        if fixed + size > max_chars:
            raise ValueError(f"school id {school!r} alone does not fit a session policy")
        added = size + (1 if current else 0)
        if current and length + added > max_chars:
            groups.append(tuple(current))
            current, length, added = [], fixed, size
        current.append(school)
        length += added
    groups.append(tuple(current))
    return groups
