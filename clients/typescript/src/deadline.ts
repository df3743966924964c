/*
 * Deadlines: the server gets the call's timeoutMs (Connect-Timeout-Ms), the
 * client waits a little longer.
 *
 * connect-es sends Connect-Timeout-Ms and aborts the call locally at the same
 * moment. Our server answers some calls *at* their deadline with a useful
 * result (RunTask with wait returns the run as it is, code 0), and a local
 * abort racing that answer would turn it into a DEADLINE_EXCEEDED the server
 * never sent. So, as the C and Python clients do, the local wait is the
 * deadline plus DEADLINE_MARGIN_MS: withServerDeadline() wraps a transport,
 * hands the inner transport the longer local timeout and remembers the real
 * one in the call's context values; serverDeadlineInterceptor (installed on
 * the inner transport) writes the real one into the header.
 */
import {
  createContextKey,
  createContextValues,
  type ContextValues,
  type Interceptor,
  type Transport,
} from "@connectrpc/connect";

/** How much longer than the server's deadline the client waits for an answer. */
export const DEADLINE_MARGIN_MS = 500;

const serverDeadlineKey = createContextKey<number | undefined>(undefined, {
  description: "beebeebrain server deadline (ms)",
});

/* connect-es's rule: undefined = the default, <= 0 = none. */
function effectiveTimeout(timeoutMs: number | undefined, defaultTimeoutMs: number | undefined): number | undefined {
  const t = timeoutMs === undefined ? defaultTimeoutMs : timeoutMs;
  return t === undefined || t <= 0 ? undefined : t;
}

/* Records the server's deadline in the context values (a fresh set when the
 * caller gave none) and returns the local timeout for the inner transport:
 * 0 (none) when the call has no deadline. */
function splitDeadline(
  timeoutMs: number | undefined,
  defaultTimeoutMs: number | undefined,
  contextValues: ContextValues | undefined,
): [number, ContextValues] {
  const values = contextValues ?? createContextValues();
  const t = effectiveTimeout(timeoutMs, defaultTimeoutMs);
  values.set(serverDeadlineKey, t);
  return [t === undefined ? 0 : t + DEADLINE_MARGIN_MS, values];
}

/**
 * Wraps `inner` (a transport with serverDeadlineInterceptor and no
 * defaultTimeoutMs of its own) so that every call has the deadline
 * `timeoutMs` (the call's, else `defaultTimeoutMs`; 0 or less: none) on the
 * server and waits DEADLINE_MARGIN_MS more locally.
 */
export function withServerDeadline(inner: Transport, defaultTimeoutMs: number | undefined): Transport {
  return {
    unary(method, signal, timeoutMs, header, input, contextValues) {
      const [local, values] = splitDeadline(timeoutMs, defaultTimeoutMs, contextValues);
      return inner.unary(method, signal, local, header, input, values);
    },
    stream(method, signal, timeoutMs, header, input, contextValues) {
      const [local, values] = splitDeadline(timeoutMs, defaultTimeoutMs, contextValues);
      return inner.stream(method, signal, local, header, input, values);
    },
  };
}

/** Puts the server's deadline recorded by withServerDeadline() into Connect-Timeout-Ms. */
export const serverDeadlineInterceptor: Interceptor = (next) => (req) => {
  const t = req.contextValues.get(serverDeadlineKey);
  if (t === undefined) {
    req.header.delete("Connect-Timeout-Ms");
  } else {
    req.header.set("Connect-Timeout-Ms", String(t));
  }
  return next(req);
};
