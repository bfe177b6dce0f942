"""A school's rows in the lake: the objects under its partition, ``lake/grades/school_id=<s>/``.

The lake bucket is versioned in AWS, so erasing the school deletes every version and delete marker
under the prefix, not only the current objects (a plain delete would only hide them).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from luca_analytics.definition import LAKE_PREFIX

# DeleteObjects takes at most 1,000 keys.
_DELETE_BATCH = 1000


def school_prefix(school_id: str) -> str:
    return f"{LAKE_PREFIX}/school_id={school_id}/"


@dataclass(frozen=True, slots=True)
class LakeObject:
    key: str
    size: int


class SchoolLake:
    def __init__(self, s3: Any, bucket: str) -> None:
        self._s3, self.bucket = s3, bucket

    def objects(self, school_id: str) -> list[LakeObject]:
        if not self.bucket:
            return []
        found: list[LakeObject] = []
        pages = self._s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=school_prefix(school_id)
        )
        for page in pages:
            found.extend(LakeObject(str(o["Key"]), int(o["Size"])) for o in page.get("Contents", []))
        return found

    def download(self, key: str, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        body = self._s3.get_object(Bucket=self.bucket, Key=key)["Body"]
        with path.open("wb") as out:
            for chunk in iter(lambda: body.read(1 << 20), b""):
                out.write(chunk)

    def erase(self, school_id: str) -> int:
        """Delete every version of every object under the school's prefix; how many were deleted."""
        if not self.bucket:
            return 0
        deleted = 0
        batch: list[dict[str, str]] = []
        for version in self._versions(school_id):
            batch.append(version)
            if len(batch) == _DELETE_BATCH:
                deleted += self._delete(batch)
                batch = []
        if batch:
            deleted += self._delete(batch)
        return deleted

    def _versions(self, school_id: str) -> Iterator[dict[str, str]]:
        # Listed in full before deleting (a list taken while deleting would skip pages).
        found = []
        pages = self._s3.get_paginator("list_object_versions").paginate(
            Bucket=self.bucket, Prefix=school_prefix(school_id)
        )
        for page in pages:
            for entry in (*page.get("Versions", []), *page.get("DeleteMarkers", [])):
                found.append({"Key": str(entry["Key"]), "VersionId": str(entry["VersionId"])})
        yield from found

    def _delete(self, batch: list[dict[str, str]]) -> int:
        answer = self._s3.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
        errors = answer.get("Errors", [])
        if errors:
            first = errors[0]
            raise RuntimeError(
                f"the lake refused to delete {len(errors)} objects: {first.get('Key')}: {first.get('Message')}"
            )
        return len(batch)
