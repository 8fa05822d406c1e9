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
 * @example
 * ```ts ignore
 * const kube = new KubeClient(await kubeconfigConnection());
 * const jobs = await kube.request("GET", `/apis/batch/v1/namespaces/default/jobs`);
 * ```
 */
export class KubeClient {
  readonly #http: Deno.HttpClient;

  constructor(readonly connection: KubeConnection) {
    this.#http = Deno.createHttpClient({
      caCerts: connection.caCerts,
      ...(connection.cert && connection.key ? { cert: connection.cert, key: connection.key } : {}),
    });
  }

  get namespace(): string {
    return this.connection.namespace;
  }

  async #fetch(method: string, path: string, init: {
    query?: Record<string, string | number | boolean | undefined>;
    body?: unknown;
    contentType?: string;
    signal?: AbortSignal;
  } = {}): Promise<Response> {
    const url = new URL(this.connection.server + path);
    for (const [key, value] of Object.entries(init.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    const headers: Record<string, string> = {
      Accept: "application/json",
      ...await this.connection.headers(),
    };
    if (init.body !== undefined) headers["Content-Type"] = init.contentType ?? "application/json";
    const response = await fetch(url, {
      method,
      headers,
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
      client: this.#http,
      signal: init.signal,
    });
    if (!response.ok) {
      const status = await response.json().catch(() => ({})) as {
        reason?: string;
        message?: string;
      };
      throw new ApiError(
        response.status,
        status.reason ?? response.statusText,
        `${method} ${path}: ${response.status} ${status.reason ?? ""} ${status.message ?? ""}`
          .trim(),
      );
    }
    return response;
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
    return await (await this.#fetch(method, path, init)).json() as T;
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
    const response = await this.#fetch("GET", path, {
      query: { ...query, watch: true, allowWatchBookmarks: true },
      signal,
    });
    for await (const line of readLines(response.body!)) {
      if (!line) continue;
      const event = JSON.parse(line) as WatchEvent<T>;
      if (event.type === "ERROR") {
        const status = event.object as { code?: number; reason?: string; message?: string };
        throw new ApiError(status.code ?? 500, status.reason ?? "Error", status.message ?? line);
      }
      yield event;
    }
  }

  /** Releases the HTTP client's connections. */
  close(): void {
    this.#http.close();
  }
}
