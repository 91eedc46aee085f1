"""Schemathesis hooks for Fieldsync (loaded by scripts/schemathesis through SCHEMATHESIS_HOOKS).

The file lane's PATCH carries raw bytes as `application/offset+octet-stream` (tus 1.0), a media
type schemathesis does not know: send whatever it generated as bytes. The admin pass never
revokes its own device mid-run (below).
"""

import os
import uuid

import schemathesis
from schemathesis.transport.serialization import serialize_binary


@schemathesis.serializer("application/offset+octet-stream")
def tus_bytes(ctx, value):
    if isinstance(value, list) and all(isinstance(b, int) for b in value):
        return bytes(b % 256 for b in value)
    return serialize_binary(value)


# The admin pass's own device (scripts/schemathesis sets it for that pass only). The fuzzer reuses
# ids it read from earlier answers (GET /api/v1/devices lists this device too), so left alone it
# would sooner or later revoke the very token it signs in with, and every case after that would
# be a 401 that tests nothing. A case that would revoke it gets a fresh, unknown id instead (a
# 404 case); the script revokes its own device once, on purpose, after the pass and checks the
# token is refused from then on.
OWN_DEVICE = os.environ.get("FIELDSYNC_FUZZ_OWN_DEVICE")


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    if (
        OWN_DEVICE
        and case.operation.path == "/api/v1/devices/{id}/revoke"
        and str((case.path_parameters or {}).get("id", "")).lower() == OWN_DEVICE.lower()
    ):
        case.path_parameters["id"] = str(uuid.uuid4())
