/**
 * A small Kubernetes API client on Deno's fetch: JSON requests and watches. How to reach
 * and authenticate to the API server comes from {@linkcode inClusterConnection} (pods) or
 * {@linkcode kubeconfigConnection} (the launcher, through @kubernetes/client-node, which
 * resolves kubeconfig files, contexts and exec credential plugins).
 *
 * The controller and task pods use only the in-cluster path, which keeps
 * @kubernetes/client-node (about 80 MB of resident memory once loaded) out of them.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import type { IncomingMessage } from "node:http";
import https from "node:https";
import { Readable } from "node:stream";
import { readLines } from "../task/lines.ts";

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
  constructor(readonly status: number, readonly reason: string, message: string) {
    super(message);
    this.name = "ApiError";
  }
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

/**
 * JSON requests and watches against one API server.
 *
 * Requests go through `node:https`, whose sockets have Nagle's algorithm off: Deno's
 * fetch leaves it on, and a request body sent after its headers then waits for the
 * server's delayed ACK, about 40 ms for every Job the controller creates.
 *
 * @example
 * ```ts ignore
 * const kube = new KubeClient(await kubeconfigConnection());
 * const jobs = await kube.request("GET", `/apis/batch/v1/namespaces/default/jobs`);
 * ```
 */
export class KubeClient {
  readonly #agent: https.Agent;

  constructor(readonly connection: KubeConnection) {
    this.#agent = new https.Agent({
      keepAlive: true,
      ca: connection.caCerts,
      cert: connection.cert,
      key: connection.key,
    });
  }

  get namespace(): string {
    return this.connection.namespace;
  }

  async #send(method: string, path: string, init: {
    query?: Record<string, string | number | boolean | undefined>;
    body?: unknown;
    contentType?: string;
    signal?: AbortSignal;
  } = {}): Promise<IncomingMessage> {
    const url = new URL(this.connection.server + path);
    for (const [key, value] of Object.entries(init.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
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
    const text = await readAll(response);
    let detail: { reason?: string; message?: string } = {};
    try {
      detail = JSON.parse(text);
    } catch {
      detail = { message: text.slice(0, 200) };
    }
    throw new ApiError(
      status,
      detail.reason ?? response.statusMessage ?? "",
      `${method} ${path}: ${status} ${detail.reason ?? ""} ${detail.message ?? ""}`.trim(),
    );
  }

  /** One JSON request; throws {@linkcode ApiError} on an error status. */
  async request<T = Record<string, unknown>>(
    method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE",
    path: string,
    init: {
      query?: Record<string, string | number | boolean | undefined>;
      body?: unknown;
      contentType?: string;
    } = {},
  ): Promise<T> {
    return JSON.parse(await readAll(await this.#send(method, path, init))) as T;
  }

  /**
   * Watches a collection from a resourceVersion; yields events until the server ends the
   * watch or the signal aborts. An expired resourceVersion ends with an {@linkcode ApiError}
   * of status 410, from the request or from an ERROR event.
   */
  async *watch<T>(
    path: string,
    query: Record<string, string | number | boolean | undefined>,
    signal?: AbortSignal,
  ): AsyncGenerator<WatchEvent<T>> {
    const response = await this.#send("GET", path, {
      query: { ...query, watch: true, allowWatchBookmarks: true },
      signal,
    });
    try {
      for await (const line of readLines(Readable.toWeb(response) as ReadableStream<Uint8Array>)) {
        if (!line) continue;
        const event = JSON.parse(line) as WatchEvent<T>;
        if (event.type === "ERROR") {
          const status = event.object as { code?: number; reason?: string; message?: string };
          throw new ApiError(status.code ?? 500, status.reason ?? "Error", status.message ?? line);
        }
        yield event;
      }
    } finally {
      response.destroy();
    }
  }

  /** Releases the client's connections. */
  close(): void {
    this.#agent.destroy();
  }
}

async function readAll(response: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of response) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}
