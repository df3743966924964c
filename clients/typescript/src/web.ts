/*
 * @beebeebrain/client for browsers (and any runtime with fetch):
 * createClient() over @connectrpc/connect-web's Connect transport.
 * The server sends no CORS headers: serve the page from the same origin or
 * put a proxy in front (clients/typescript/README.md).
 */
import { createConnectTransport } from "@connectrpc/connect-web";

import { clientFactory } from "./client.js";

/** As createClient of the Node entry point, over fetch. */
export const createClient = clientFactory((options) => createConnectTransport(options));

export * from "./exports.js";
