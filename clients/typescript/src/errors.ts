/*
 * What our server says about a failed call, read out of a ConnectError.
 *
 * Every error answer carries one Connect error detail of type
 * beebeebrain.v1.RpcResponse: the stable reason (TASK_NOT_FOUND), the field
 * violations of a VALIDATION_ERROR and the call's trace id (docs/protocol.md,
 * "Connect unary calls"). An error made on the client side (connection
 * refused, local deadline, abort) has no such detail: its reason is "".
 */
import { Code, ConnectError } from "@connectrpc/connect";

import { RpcResponseSchema, type FieldViolation } from "./gen/beebeebrain/v1/rpc_pb.js";

/** A failed call: Connect's code plus our reason, violations and trace id. */
export class RpcError extends Error {
  override readonly name = "RpcError";

  constructor(
    /** Connect's code (Code.NotFound ...), the same as the gRPC code. */
    readonly code: Code,
    /** Stable UPPER_SNAKE reason; "" when the server did not answer. */
    readonly reason: string,
    message: string,
    /** One per offending field for VALIDATION_ERROR (`task.title`, `task_ids[2]`). */
    readonly violations: readonly FieldViolation[],
    /** The call's trace id (detail, else the X-Trace-ID header); "" when unknown. */
    readonly traceId: string,
    /** The ConnectError this was read from. */
    readonly connectError: ConnectError,
  ) {
    super(message, { cause: connectError });
  }

  /**
   * Reads any thrown value: a ConnectError with our detail gives its reason,
   * violations and trace id; anything else (ConnectError.from) gives its code
   * and message with reason "".
   */
  static from(err: unknown): RpcError {
    if (err instanceof RpcError) {
      return err;
    }
    const ce = ConnectError.from(err);
    const detail = ce.findDetails(RpcResponseSchema)[0];
    const headerTrace = ce.metadata.get("X-Trace-ID") ?? "";
    if (detail === undefined) {
      return new RpcError(ce.code, "", ce.rawMessage, [], headerTrace, ce);
    }
    return new RpcError(
      ce.code,
      detail.reason,
      detail.message || ce.rawMessage,
      detail.violations,
      detail.traceId || headerTrace,
      ce,
    );
  }
}

/** True when `err` is an error answer of the server with this reason. */
export function hasReason(err: unknown, reason: string): boolean {
  return RpcError.from(err).reason === reason;
}
