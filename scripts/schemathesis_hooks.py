"""schemathesis hooks for scripts/schemathesis.sh.

The bulk routes take NDJSON (`application/x-ndjson`), which schemathesis cannot send on its
own: a generated body (one line's object) is sent as one JSON line.
"""

import json

import schemathesis


@schemathesis.serializer("application/x-ndjson")
def ndjson(ctx, value):
    if isinstance(value, bytes):
        return value
    return (json.dumps(value) + "\n").encode()
