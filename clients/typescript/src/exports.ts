/*
 * What both entry points (index.ts, web.ts) export besides createClient: the
 * client's types, errors, the event follower, and the generated messages and
 * services of every .proto (also importable one file at a time as
 * "@beebeebrain/client/gen/<file>", e.g. "@beebeebrain/client/gen/task").
 */
export { Code, ConnectError, createClient as createServiceClient } from "@connectrpc/connect";
export type { CallOptions, Client, Interceptor, Transport } from "@connectrpc/connect";
export { create, toJson, fromJson } from "@bufbuild/protobuf";

export {
  DEFAULT_TIMEOUT_MS,
  createClientOver,
  services,
  type BeeBeeBrainClient,
  type ClientOptions,
} from "./client.js";
export { DEADLINE_MARGIN_MS } from "./deadline.js";
export { RpcError, hasReason } from "./errors.js";
export {
  followEvents,
  replayPolling,
  subscribeStream,
  type EventFilter,
  type EventFollower,
  type EventSource,
  type FollowOptions,
} from "./follow.js";

export * from "./gen/beebeebrain/v1/admin_pb.js";
export * from "./gen/beebeebrain/v1/agent_pb.js";
export * from "./gen/beebeebrain/v1/common_pb.js";
export * from "./gen/beebeebrain/v1/event_pb.js";
export * from "./gen/beebeebrain/v1/events_pb.js";
export * from "./gen/beebeebrain/v1/health_pb.js";
export * from "./gen/beebeebrain/v1/inbox_pb.js";
export * from "./gen/beebeebrain/v1/log_pb.js";
export * from "./gen/beebeebrain/v1/metrics_pb.js";
export * from "./gen/beebeebrain/v1/project_pb.js";
export * from "./gen/beebeebrain/v1/rpc_pb.js";
export * from "./gen/beebeebrain/v1/runtime_pb.js";
export * from "./gen/beebeebrain/v1/task_pb.js";
export * from "./gen/beebeebrain/v1/tool_pb.js";
