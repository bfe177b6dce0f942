"""Reading what a failed gRPC call says: its code, its ``google.rpc.ErrorInfo`` and BadRequest fields."""

from __future__ import annotations

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status


def refused(
    error: grpc.RpcError, *, domain: str
) -> tuple[grpc.StatusCode, error_details_pb2.ErrorInfo, list[str]]:
    """The code, the ErrorInfo and the BadRequest's fields of a failed call. Fails the test unless the
    call carries ``google.rpc.Status`` details with exactly one ErrorInfo of ``domain``."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None, "errors must carry google.rpc.Status details"
    infos: list[error_details_pb2.ErrorInfo] = []
    fields: list[str] = []
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            infos.append(info)
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields.extend(violation.field for violation in bad.field_violations)
    assert len(infos) == 1, "exactly one google.rpc.ErrorInfo"
    assert infos[0].domain == domain
    return error.code(), infos[0], fields
