"""RpcError: every failed call, whether the server answered with an error or
the call failed locally (no server, no reply in time); shaped the same way so
that callers branch on `code` and `reason` only (docs/protocol.md, Errors)."""

import collections

# gRPC canonical codes, as the server sends them in RpcResponse.code.
CODE_NAMES = {
    0: "OK", 1: "CANCELLED", 2: "UNKNOWN", 3: "INVALID_ARGUMENT", 4: "DEADLINE_EXCEEDED", 5: "NOT_FOUND",
    6: "ALREADY_EXISTS", 7: "PERMISSION_DENIED", 8: "RESOURCE_EXHAUSTED", 9: "FAILED_PRECONDITION",
    10: "ABORTED", 11: "OUT_OF_RANGE", 12: "UNIMPLEMENTED", 13: "INTERNAL", 14: "UNAVAILABLE",
    15: "DATA_LOSS", 16: "UNAUTHENTICATED",
}

INVALID_ARGUMENT = 3
DEADLINE_EXCEEDED = 4
RESOURCE_EXHAUSTED = 8
INTERNAL = 13
UNAVAILABLE = 14

Violation = collections.namedtuple("Violation", ["field", "description"])
Violation.__doc__ = "One invalid field of a request: (field, description)."


class RpcError(Exception):
    """A call that did not succeed.

    code        int, the gRPC canonical code (CODE_NAMES; `code_name` spells it)
    reason      str, the stable machine-readable reason (NOT_FOUND: TASK_NOT_FOUND, ...)
    message     str, for humans; do not parse it
    violations  list of Violation(field, description) of a validation error
    trace_id    str, the server's trace id of the call ("" for a local failure)

    Local failures: UNAVAILABLE SERVER_UNREACHABLE (no server, or the
    connection dropped), DEADLINE_EXCEEDED (no reply in time),
    RESOURCE_EXHAUSTED MESSAGE_TOO_LARGE (not sent), INTERNAL
    MALFORMED_RESPONSE (a reply that does not decode).
    """

    def __init__(self, code, reason, message, violations=(), trace_id=""):
        self.code = int(code)
        self.reason = reason
        self.message = message
        self.violations = [Violation(*v) for v in violations]
        self.trace_id = trace_id
        super().__init__(f"{CODE_NAMES.get(self.code, self.code)} {reason}: {message}")

    @property
    def code_name(self):
        return CODE_NAMES.get(self.code, str(self.code))

    def __reduce__(self):
        return (type(self), (self.code, self.reason, self.message, self.violations, self.trace_id))
