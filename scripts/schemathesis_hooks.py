"""Schemathesis hooks for Fieldsync (loaded by scripts/schemathesis through SCHEMATHESIS_HOOKS).

The file lane's PATCH carries raw bytes as `application/offset+octet-stream` (tus 1.0), a media
type schemathesis does not know: send whatever it generated as bytes.
"""

import schemathesis
from schemathesis.transport.serialization import serialize_binary


@schemathesis.serializer("application/offset+octet-stream")
def tus_bytes(ctx, value):
    if isinstance(value, list) and all(isinstance(b, int) for b in value):
        return bytes(b % 256 for b in value)
    return serialize_binary(value)
