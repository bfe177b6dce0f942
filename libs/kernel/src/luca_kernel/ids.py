"""The identifiers of the school's world. Every one of them lives inside exactly one school."""

from __future__ import annotations

from typing import NewType

SchoolId = NewType("SchoolId", str)
StudentId = NewType("StudentId", str)
CourseId = NewType("CourseId", str)
SubjectId = NewType("SubjectId", str)
TermId = NewType("TermId", str)
TeacherId = NewType("TeacherId", str)

# A school id is a slug: it is spelled into keys (after ``SCHOOL#``), the IAM session tag, S3
# partitions, alarm, API key and execution names, so it never holds ``#``, ``*``, ``?``, ``/`` or
# upper case. 40 characters leave room in Step Functions' 80-character execution names
# (``govsync-<school>-<period>-update-<digest>``).
SCHOOL_ID_MAX_LENGTH = 40
_SCHOOL_ID_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")


def is_school_id(value: str) -> bool:
    """Whether ``value`` follows the school id rules: lower-case letters, digits and ``-``, at most
    ``SCHOOL_ID_MAX_LENGTH``, starting and ending with a letter or digit, no ``--``."""
    return (
        0 < len(value) <= SCHOOL_ID_MAX_LENGTH
        and set(value) <= _SCHOOL_ID_CHARACTERS
        and value[0] != "-"
        and value[-1] != "-"
        and "--" not in value
    )


def school_id(value: str) -> SchoolId:
    """``value`` as a SchoolId, or ``ValueError`` saying which rule it breaks."""
    if not is_school_id(value):
        raise ValueError(
            f"not a school id: {value!r} (lower-case letters, digits and single '-', at most "
            f"{SCHOOL_ID_MAX_LENGTH} characters, starting and ending with a letter or digit)"
        )
    return SchoolId(value)
