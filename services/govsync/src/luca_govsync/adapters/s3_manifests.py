"""Batch manifests in S3: the records of one batch, written by prepare and read by submit.

The state machine passes references only, so an execution's history holds no personal data and
stays far below Step Functions' 256 KB payload limit however large the period is. Keys start with
the school (``tasks.manifest_key``); the bucket is encrypted and private (see the CDK stack).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from luca_govsync.domain.model import GradeRecord

MANIFEST_VERSION = 1


class S3Manifests:
    def __init__(self, s3: Any, bucket: str) -> None:
        self._s3, self._bucket = s3, bucket

    def put(self, key: str, records: Sequence[GradeRecord]) -> None:
        body = json.dumps(
            {"version": MANIFEST_VERSION, "records": [asdict(record) for record in records]},
            separators=(",", ":"),
        )
        self._s3.put_object(Bucket=self._bucket, Key=key, Body=body.encode(), ContentType="application/json")

    def get(self, key: str) -> list[GradeRecord]:
        document = json.loads(self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read())
        if document.get("version") != MANIFEST_VERSION:
            raise ValueError(f"manifest {key} has version {document.get('version')!r}")
        return [GradeRecord(**record) for record in document["records"]]
