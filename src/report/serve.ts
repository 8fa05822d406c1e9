/**
 * Serves a run's report on 127.0.0.1 while the run goes on: the page is made again when
 * the state document changes, and open pages are told to reload (server-sent events).
 *
 * @module
 */
import { statePath } from "../records/layout.ts";
import type { DataFs } from "../storage/data_fs.ts";
import { makeReport } from "./write.ts";

/** Settings of {@linkcode serveReport}. */
export interface ServeOptions {
  /** Port on 127.0.0.1; 0 takes a free one. */
  port: number;
  /** Aborting stops the server. */
  signal: AbortSignal;
  /** Called with the page's address once the server listens. */
  onListen?: (url: string) => void;
  /** How often the state document is looked at, in milliseconds (default 500). */
  pollMs?: number;
}

/**
 * Serves the report until the signal aborts. Throws NotFoundError, before listening, when
 * there is no such run.
 *
 * @example
 * ```ts ignore
 * const stop = new AbortController();
 * await serveReport(fs, "ktpr0000abcd", { port: 8080, signal: stop.signal });
 * ```
 */
export async function serveReport(fs: DataFs, runId: string, options: ServeOptions) {
  const encoder = new TextEncoder();
  const clients = new Set<ReadableStreamDefaultController<Uint8Array>>();
  const stamp = async () => {
    const info = await fs.stat(statePath(runId));
    return info ? `${info.mtime?.getTime()}:${info.size}` : "";
  };
  let seen = await stamp();
  let page = await makeReport(fs, runId);
  let version = 0;

  let timer: ReturnType<typeof setTimeout> | undefined;
  const poll = async () => {
    try {
      const now = await stamp();
      if (now !== seen) {
        seen = now;
        page = await makeReport(fs, runId);
        version++;
        for (const client of clients) client.enqueue(encoder.encode(`data: ${version}\n\n`));
      }
    } catch {
      // A state document caught mid-write, or a store that did not answer: next time.
    }
    if (!options.signal.aborted) timer = setTimeout(poll, options.pollMs ?? 500);
  };
  timer = setTimeout(poll, options.pollMs ?? 500);

  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: options.port,
    signal: options.signal,
    onListen: ({ port }) => options.onListen?.(`http://127.0.0.1:${port}/`),
  }, (request) => {
    const path = new URL(request.url).pathname;
    if (request.method !== "GET") return new Response("method not allowed", { status: 405 });
    if (path === "/" || path === "/report.html") {
      return new Response(page, {
        headers: { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" },
      });
    }
    if (path === "/events") {
      let self: ReadableStreamDefaultController<Uint8Array>;
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          self = controller;
          clients.add(controller);
          controller.enqueue(encoder.encode(`retry: 1000\n: version ${version}\n\n`));
        },
        cancel() {
          clients.delete(self);
        },
      });
      return new Response(body, {
        headers: { "content-type": "text/event-stream", "cache-control": "no-store" },
      });
    }
    return new Response("not found", { status: 404 });
  });
  options.signal.addEventListener("abort", () => {
    clearTimeout(timer);
    for (const client of clients) client.close();
    clients.clear();
  }, { once: true });
  await server.finished;
}
