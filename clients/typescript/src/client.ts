/*
 * One Connect client per service of proto/beebeebrain/v1, over any transport.
 *
 * The entry points (index.ts for Node, web.ts for browsers) differ only in the
 * function that makes the Connect transport; everything else (the API key,
 * the deadline rule of deadline.ts, the service table) lives here once.
 * Every method is the generated one: `client.task.getTask({ taskId: 1n })`
 * resolves to a GetTaskResponse or rejects with a ConnectError (see errors.ts).
 */
import { createClient as createServiceClient, type Client, type Interceptor, type Transport } from "@connectrpc/connect";

import { AdminService } from "./gen/beebeebrain/v1/admin_pb.js";
import { AgentService } from "./gen/beebeebrain/v1/agent_pb.js";
import { EventService } from "./gen/beebeebrain/v1/event_pb.js";
import { HealthService } from "./gen/beebeebrain/v1/health_pb.js";
import { InboxService } from "./gen/beebeebrain/v1/inbox_pb.js";
import { LogService } from "./gen/beebeebrain/v1/log_pb.js";
import { MetricsService } from "./gen/beebeebrain/v1/metrics_pb.js";
import { ProjectService } from "./gen/beebeebrain/v1/project_pb.js";
import { RuntimeService } from "./gen/beebeebrain/v1/runtime_pb.js";
import { TaskService } from "./gen/beebeebrain/v1/task_pb.js";
import { ToolService } from "./gen/beebeebrain/v1/tool_pb.js";
import { serverDeadlineInterceptor, withServerDeadline } from "./deadline.js";

/** The default deadline of a call, as in the C client. */
export const DEFAULT_TIMEOUT_MS = 30_000;

/** The services, by the name of their client in BeeBeeBrainClient. */
export const services = {
  admin: AdminService,
  agent: AgentService,
  event: EventService,
  health: HealthService,
  inbox: InboxService,
  log: LogService,
  metrics: MetricsService,
  project: ProjectService,
  runtime: RuntimeService,
  task: TaskService,
  tool: ToolService,
} as const;

type Services = typeof services;

/** A client of every service, and the transport under them. */
export type BeeBeeBrainClient = { readonly [K in keyof Services]: Client<Services[K]> } & {
  readonly transport: Transport;
};

export interface ClientOptions {
  /** The server's HTTP listener, e.g. "http://127.0.0.1:7422" (`serve --http`). */
  baseUrl: string;
  /** The server's key (BEEBEEBRAIN_API_KEY), sent as `Authorization: Bearer KEY`. */
  apiKey?: string;
  /**
   * Every call's deadline on the server (Connect-Timeout-Ms), unless the call
   * passes its own `timeoutMs`; the client waits DEADLINE_MARGIN_MS longer.
   * Default DEFAULT_TIMEOUT_MS; 0: no deadline.
   */
  timeoutMs?: number;
  /** application/proto (default) or application/json bodies. */
  useBinaryFormat?: boolean;
  /** More interceptors, run after the key and deadline ones (they see the headers as sent). */
  interceptors?: Interceptor[];
}

/** The part of @connectrpc/connect-node's and connect-web's createConnectTransport we use. */
export interface ConnectTransportFactory {
  (options: { baseUrl: string; useBinaryFormat: boolean; interceptors: Interceptor[] }): Transport;
}

function apiKeyInterceptor(apiKey: string): Interceptor {
  return (next) => (req) => {
    req.header.set("Authorization", `Bearer ${apiKey}`);
    return next(req);
  };
}

/** One client per service over `transport`, used as it is. */
export function createClientOver(transport: Transport): BeeBeeBrainClient {
  const clients: Record<string, unknown> = { transport };
  for (const [name, service] of Object.entries(services)) {
    clients[name] = createServiceClient(service, transport);
  }
  return clients as BeeBeeBrainClient;
}

/** createClient() of an entry point, over the transports `factory` makes. */
export function clientFactory(factory: ConnectTransportFactory): (options: ClientOptions) => BeeBeeBrainClient {
  return (options) => {
    const interceptors: Interceptor[] = [serverDeadlineInterceptor];
    if (options.apiKey !== undefined && options.apiKey !== "") {
      interceptors.push(apiKeyInterceptor(options.apiKey));
    }
    interceptors.push(...(options.interceptors ?? []));
    const inner = factory({
      baseUrl: options.baseUrl,
      useBinaryFormat: options.useBinaryFormat ?? true,
      interceptors,
    });
    return createClientOver(withServerDeadline(inner, options.timeoutMs ?? DEFAULT_TIMEOUT_MS));
  };
}
