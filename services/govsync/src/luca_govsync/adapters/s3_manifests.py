"""Batch manifests in S3: the records (or the changes) of one batch, written by prepare and read by
submit.

The state machine passes references only, so an execution's history holds no personal data and
stays far below Step Functions' 256 KB payload limit however large the period is. Keys start with
the school (``tasks.manifest_key``); the bucket is encrypted and private (see the CDK stack).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from luca_govsync.domain.changes import GradeChange
from luca_govsync.domain.model import GradeRecord
from luca_govsync.domain.tally import ChangeKind

# A record's version and retraction are optional fields (a manifest written before they existed
# reads as version 1, not retracted), so the version stays 1.
MANIFEST_VERSION = 1


class S3Manifests:
    def __init__(self, s3: Any, bucket: str) -> None:
        self._s3, self._bucket = s3, bucket

    def put(self, key: str, records: Sequence[GradeRecord]) -> None:
        self._put(key, {"records": [asdict(record) for record in records]})

    def get(self, key: str) -> list[GradeRecord]:
        return [GradeRecord(**record) for record in self._get(key)["records"]]

    def put_changes(self, key: str, changes: Sequence[GradeChange]) -> None:
        self._put(
            key,
            {
                "changes": [
                    {
                        "kind": change.kind.value,
                        "client_change_id": change.client_change_id,
                        "record": asdict(change.record),
                    }
                    for change in changes
                ]
            },
        )

    def get_changes(self, key: str) -> list[GradeChange]:
        return [
            GradeChange(ChangeKind(item["kind"]), GradeRecord(**item["record"]), item["client_change_id"])
            for item in self._get(key)["changes"]
        ]

    def _put(self, key: str, content: dict[str, Any]) -> None:
        body = json.dumps({"version": MANIFEST_VERSION, **content}, separators=(",", ":"))
        self._s3.put_object(Bucket=self._bucket, Key=key, Body=body.encode(), ContentType="application/json")

    def _get(self, key: str) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(
            self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read()
        )
        if document.get("version") != MANIFEST_VERSION:
            raise ValueError(f"manifest {key} has version {document.get('version')!r}")
        return document
