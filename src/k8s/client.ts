/**
 * A small Kubernetes API client with client-go's habits: it retries what is worth retrying
 * (429 with its `Retry-After`, 5xx, reset or refused connections, timeouts) with backoff and
 * jitter for a bounded time, caps the requests it has in flight, and gives each request a
 * timeout. A permanent answer (any other 4xx) is thrown at once with the API's message.
 *
 * How to reach and authenticate to the API server comes from {@linkcode inClusterConnection}
 * (pods) or {@linkcode kubeconfigConnection} (the launcher, through @kubernetes/client-node,
 * which resolves kubeconfig files, contexts and exec credential plugins).
 *
 * The controller and task pods use only the in-cluster path, which keeps
 * @kubernetes/client-node (about 80 MB of resident memory once loaded) out of them.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import type { IncomingMessage } from "node:http";
import https from "node:https";
import { type Backoff, backoffDelay, retry } from "../async/backoff.ts";
import { Slots } from "../async/slots.ts";
import { readLines } from "../async/lines.ts";

/** Where the API server is and how to authenticate to it. */
export interface KubeConnection {
  server: string;
  namespace: string;
  caCerts?: string[];
  cert?: string;
  key?: string;
  /** Headers for each request (a bearer token, read fresh each time). */
  headers: () => Promise<Record<string, string>>;
}

/** An error status from the API server. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
    /** Seconds the server asked us to wait (`Retry-After`), if it did. */
    readonly retryAfter?: number,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

const NETWORK_CODES = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EAI_AGAIN",
]);

/**
 * True for an error worth retrying: 429, a 5xx other than 501, a connection reset, refused
 * or timed out. 409 Conflict and the other 4xx answers are permanent.
 *
 * @example
 * ```ts
 * import { ApiError, isTransient } from "./client.ts";
 * isTransient(new ApiError(429, "TooManyRequests", "slow down")); // true
 * isTransient(new ApiError(422, "Invalid", "bad Job")); // false
 * ```
 */
export function isTransient(error: unknown): boolean {
  if (error instanceof ApiError) {
    return error.status === 429 || (error.status >= 500 && error.status !== 501);
  }
  if (error instanceof RequestTimeout) return true;
  const code = (error as { code?: string } | null)?.code;
  if (code && NETWORK_CODES.has(code)) return true;
  const message = String((error as Error | null)?.message ?? "");
  return /socket hang up|ECONNRESET|ECONNREFUSED|connection (reset|refused|closed)|EPIPE|broken pipe|error reading a body|timed out/i
    .test(message);
}

/** A request that got no complete answer within the client's request timeout. */
export class RequestTimeout extends Error {
  constructor(what: string, ms: number) {
    super(`${what}: no answer within ${ms} ms`);
    this.name = "RequestTimeout";
  }
}

/** How hard a {@linkcode KubeClient} pushes and how long it keeps trying. */
export interface ClientLimits {
  /** Most requests in flight at once (watches not counted). Default 16. */
  maxInFlight: number;
  /** Time for one request, answer included. Default 30 s. */
  requestTimeoutMs: number;
  /** How long one call keeps retrying transient errors before it throws. Default 60 s. */
  retryForMs: number;
  /** First backoff; each retry doubles it, with jitter, up to `maxBackoffMs`. Default 100 ms. */
  backoffMs: number;
  /** Longest backoff between two tries. Default 5 s. */
  maxBackoffMs: number;
}

const DEFAULT_LIMITS: ClientLimits = {
  maxInFlight: 16,
  requestTimeoutMs: 30_000,
  retryForMs: 60_000,
  backoffMs: 100,
  maxBackoffMs: 5_000,
};

/** What a client has retried so far (a benchmark prints it). */
export interface RetryCounts {
  /** 429 answers retried. */
  throttled: number;
  /** 5xx answers retried. */
  serverErrors: number;
  /** Connection errors and timeouts retried. */
  network: number;
}

/**
 * The delay before retry number `attempt` (0-based) of a request: the client's backoff
 * (see {@linkcode backoffDelay}), at least what the server asked for with `Retry-After`.
 */
export function retryDelay(attempt: number, limits: ClientLimits, error?: unknown): number {
  return Math.max(backoffDelay(attempt, backoffOf(limits)), askedMs(error));
}

function backoffOf(limits: ClientLimits): Backoff {
  return { firstMs: limits.backoffMs, maxMs: limits.maxBackoffMs };
}

function askedMs(error: unknown): number {
  return error instanceof ApiError && error.retryAfter ? error.retryAfter * 1000 : 0;
}

/** One event of a watch. */
export interface WatchEvent<T> {
  type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
  object: T;
}

const SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

/** The connection of a pod: the service account token, CA and namespace Kubernetes mounts. */
export function inClusterConnection(): KubeConnection {
  const host = Deno.env.get("KUBERNETES_SERVICE_HOST");
  const port = Deno.env.get("KUBERNETES_SERVICE_PORT") ?? "443";
  if (!host) throw new Error("not in a cluster: KUBERNETES_SERVICE_HOST is not set");
  return {
    server: `https://${host.includes(":") ? `[${host}]` : host}:${port}`,
    namespace: Deno.readTextFileSync(`${SA_DIR}/namespace`).trim(),
    caCerts: [Deno.readTextFileSync(`${SA_DIR}/ca.crt`)],
    headers: async () => ({
      Authorization: `Bearer ${(await Deno.readTextFile(`${SA_DIR}/token`)).trim()}`,
    }),
  };
}

function text(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  return typeof value === "string" ? value : new TextDecoder().decode(value as Uint8Array);
}

/**
 * The connection a kubeconfig describes (`KUBECONFIG`, `~/.kube/config`, or in-cluster),
 * for the given context or the current one.
 */
export async function kubeconfigConnection(context?: string): Promise<KubeConnection> {
  const { KubeConfig } = await import("@kubernetes/client-node");
  const config = new KubeConfig();
  config.loadFromDefault();
  if (context) {
    if (!config.getContextObject(context)) {
      throw new Error(`no context ${JSON.stringify(context)} in the kubeconfig`);
    }
    config.setCurrentContext(context);
  }
  const cluster = config.getCurrentCluster();
  if (!cluster) throw new Error("the kubeconfig has no current cluster (set --context)");
  const namespace = config.getContextObject(config.getCurrentContext())?.namespace ?? "default";
  const probe = { headers: {} as Record<string, string> } as Record<string, unknown>;
  await config.applyToHTTPSOptions(probe);
  return {
    server: cluster.server.replace(/\/+$/, ""),
    namespace,
    caCerts: probe.ca ? [text(probe.ca)!] : undefined,
    cert: text(probe.cert),
    key: text(probe.key),
    headers: async () => {
      const fresh = { headers: {} as Record<string, string> } as Record<string, unknown>;
      await config.applyToHTTPSOptions(fresh);
      return fresh.headers as Record<string, string>;
    },
  };
}

/** Options of one request. */
export interface RequestInit {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  signal?: AbortSignal;
  /** Override of the client's `retryForMs` for this call (0: one try). */
  retryForMs?: number;
}

/**
 * JSON requests and watches against one API server.
 *
 * Requests with a body go through `node:https`, whose sockets have Nagle's algorithm off:
 * Deno's fetch leaves it on, and a request body sent after its headers then waits for
 * the server's delayed ACK, about 40 ms for every Job the controller creates. Reads (GET,
 * lists and watches) go through Deno's fetch: a watch of every Pending pod of a
 * 100,000-task job read through `node:https` grew the process by about 2 MB a minute
 * (glibc's heap, buffers of the node stream layer), through fetch not at all, and a
 * fetch body is a byte stream, read into one reused buffer.
 *
 * @example
 * ```ts ignore
 * const kube = new KubeClient(await kubeconfigConnection());
 * const jobs = await kube.request("GET", `/apis/batch/v1/namespaces/default/jobs`);
 * ```
 */
export class KubeClient {
  readonly #agent: https.Agent;
  readonly #http: Deno.HttpClient;
  readonly #slots: Slots;
  readonly limits: ClientLimits;
  /** Retries made so far, by kind. */
  readonly retries: RetryCounts = { throttled: 0, serverErrors: 0, network: 0 };

  constructor(readonly connection: KubeConnection, limits: Partial<ClientLimits> = {}) {
    this.limits = { ...DEFAULT_LIMITS, ...limits };
    this.#slots = new Slots(this.limits.maxInFlight);
    this.#agent = new https.Agent({
      keepAlive: true,
      ca: connection.caCerts,
      cert: connection.cert,
      key: connection.key,
    });
    this.#http = Deno.createHttpClient({
      caCerts: connection.caCerts,
      cert: connection.cert,
      key: connection.key,
    });
  }

  #url(path: string, query: RequestInit["query"]): URL {
    const url = new URL(this.connection.server + path);
    for (const [key, value] of Object.entries(query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    return url;
  }

  get namespace(): string {
    return this.connection.namespace;
  }

  async #send(
    method: string,
    path: string,
    init: RequestInit,
    timeoutMs: number | null,
  ): Promise<IncomingMessage> {
    const url = this.#url(path, init.query);
    const body = init.body === undefined ? undefined : Buffer.from(JSON.stringify(init.body));
    const headers: Record<string, string | number> = {
      Accept: "application/json",
      ...await this.connection.headers(),
    };
    if (body) {
      headers["Content-Type"] = init.contentType ?? "application/json";
      headers["Content-Length"] = body.length;
    }
    const response = await new Promise<IncomingMessage>((resolve, reject) => {
      const request = https.request(url, { method, headers, agent: this.#agent }, resolve);
      request.on("error", reject);
      if (timeoutMs !== null) {
        request.setTimeout(
          timeoutMs,
          () => request.destroy(new RequestTimeout(`${method} ${path}`, timeoutMs)),
        );
      }
      if (init.signal) {
        const abort = () => request.destroy(new DOMException("aborted", "AbortError"));
        if (init.signal.aborted) abort();
        init.signal.addEventListener("abort", abort, { once: true });
        request.on("close", () => init.signal!.removeEventListener("abort", abort));
      }
      request.end(body);
    });
    const status = response.statusCode ?? 0;
    if (status >= 200 && status < 300) return response;
    throw apiError(
      `${method} ${path}`,
      status,
      response.statusMessage ?? "",
      await readAll(response),
      response.headers["retry-after"],
    );
  }

  /**
   * A GET through Deno's fetch. `timeoutMs` bounds the answer's headers, and its body too
   * until `settle` is called: a watch settles once its headers are in.
   */
  async #get(
    path: string,
    init: RequestInit,
    timeoutMs: number,
  ): Promise<{ response: Response; settle: () => void; why: (error: unknown) => unknown }> {
    const timer = new AbortController();
    const timeout = setTimeout(
      () => timer.abort(new RequestTimeout(`GET ${path}`, timeoutMs)),
      timeoutMs,
    );
    const settle = () => clearTimeout(timeout);
    // What a failed read of the body means: the timeout's error when it fired.
    const why = (error: unknown) => timer.signal.aborted ? timer.signal.reason : error;
    const signal = init.signal ? AbortSignal.any([init.signal, timer.signal]) : timer.signal;
    try {
      const response = await fetch(this.#url(path, init.query), {
        headers: { Accept: "application/json", ...await this.connection.headers() },
        signal,
        client: this.#http,
      });
      if (response.ok) return { response, settle, why };
      throw apiError(
        `GET ${path}`,
        response.status,
        response.statusText,
        await response.text(),
        response.headers.get("retry-after") ?? undefined,
      );
    } catch (error) {
      settle();
      throw why(fetchError(`GET ${path}`, error));
    }
  }

  #count(error: unknown): void {
    if (error instanceof ApiError && error.status === 429) this.retries.throttled++;
    else if (error instanceof ApiError) this.retries.serverErrors++;
    else this.retries.network++;
  }

  /** Runs `once` until it succeeds, throws a permanent error, or the retry time is spent. */
  #retrying<T>(init: RequestInit, once: () => Promise<T>): Promise<T> {
    return retry(once, {
      backoff: backoffOf(this.limits),
      retryForMs: init.retryForMs ?? this.limits.retryForMs,
      isTransient,
      askedMs,
      onRetry: (error) => this.#count(error),
      signal: init.signal,
    });
  }

  /**
   * One JSON request, retried on transient errors; throws {@linkcode ApiError} on a
   * permanent error status, or the last transient error when the retry time is spent.
   */
  request<T = Record<string, unknown>>(
    method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE",
    path: string,
    init: RequestInit = {},
  ): Promise<T> {
    return this.#retrying(init, async () => {
      const release = await this.#slots.acquire();
      try {
        const timeout = this.limits.requestTimeoutMs;
        if (method !== "GET") {
          return JSON.parse(await readAll(await this.#send(method, path, init, timeout))) as T;
        }
        const { response, settle, why } = await this.#get(path, init, timeout);
        try {
          return await response.json() as T;
        } catch (error) {
          throw why(fetchError(`GET ${path}`, error));
        } finally {
          settle();
        }
      } finally {
        release();
      }
    });
  }

  /**
   * Watches a collection from a resourceVersion, with bookmarks; yields events until the
   * server ends the watch or the signal aborts. One try: retrying, resuming and noticing a
   * silent watch are the caller's (see informer.ts). An expired resourceVersion ends with
   * an {@linkcode ApiError} of status 410, from the request or from an ERROR event.
   */
  async *watch<T>(
    path: string,
    query: Record<string, string | number | boolean | undefined>,
    signal?: AbortSignal,
  ): AsyncGenerator<WatchEvent<T>> {
    const init = { query: { ...query, watch: true, allowWatchBookmarks: true }, signal };
    const { response, settle } = await this.#get(path, init, this.limits.requestTimeoutMs);
    settle();
    try {
      for await (const line of readLines(response.body!)) {
        if (!line) continue;
        const event = JSON.parse(line) as WatchEvent<T>;
        if (event.type === "ERROR") {
          const status = event.object as { code?: number; reason?: string; message?: string };
          throw new ApiError(status.code ?? 500, status.reason ?? "Error", status.message ?? line);
        }
        yield event;
      }
    } finally {
      await response.body?.cancel().catch(() => {});
    }
  }

  /** Releases the client's connections. */
  close(): void {
    this.#agent.destroy();
    this.#http.close();
  }
}

const FETCH_CODES: [RegExp, string][] = [
  [/connection refused/i, "ECONNREFUSED"],
  [/connection reset/i, "ECONNRESET"],
  [/broken pipe/i, "EPIPE"],
  [/timed out/i, "ETIMEDOUT"],
  [/no route to host/i, "EHOSTUNREACH"],
  [/network is unreachable/i, "ENETUNREACH"],
];

/**
 * fetch's "fetch failed" with its cause's words, and the Node error code they amount to,
 * so that both transports fail alike (see {@linkcode isTransient}).
 */
function fetchError(what: string, error: unknown): unknown {
  const cause = (error as { cause?: unknown } | null)?.cause;
  if (!(error instanceof TypeError) || !(cause instanceof Error)) return error;
  const code = FETCH_CODES.find(([pattern]) => pattern.test(cause.message))?.[1];
  return Object.assign(new Error(`${what}: ${cause.message}`, { cause: error }), { code });
}

/** The error of an answer with an error status; its body is the API's Status, as a rule. */
function apiError(
  what: string,
  status: number,
  statusText: string,
  body: string,
  retryAfterHeader: string | string[] | undefined,
): ApiError {
  let detail: { reason?: string; message?: string } = {};
  try {
    detail = JSON.parse(body);
  } catch {
    detail = { message: body.slice(0, 200) };
  }
  const retryAfter = Number(retryAfterHeader);
  return new ApiError(
    status,
    detail.reason ?? statusText,
    `${what}: ${status} ${detail.reason ?? ""} ${detail.message ?? ""}`.trim(),
    Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : undefined,
  );
}

async function readAll(response: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of response) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}
