/*
 * @beebeebrain/client for Node: createClient() over @connectrpc/connect-node's
 * Connect transport (HTTP/1.1, which is what the server's listener speaks).
 * Browsers import "@beebeebrain/client/web" instead (web.ts).
 */
import { createConnectTransport } from "@connectrpc/connect-node";

import { clientFactory } from "./client.js";

/**
 * A client of every service at `options.baseUrl`:
 * `const c = createClient({ baseUrl: "http://127.0.0.1:7422" }); await c.task.getTask({ taskId: 1n })`.
 */
export const createClient = clientFactory((options) => createConnectTransport({ ...options, httpVersion: "1.1" }));

export * from "./exports.js";
