/**
 * A real GCS emulator for the tests: fake-gcs-server, built from its Go module
 * (tests/gcs/build.sh, cached outside the repository), started in memory on loopback, or on
 * the test cluster's node IP so that pods reach it too, stopped by PID.
 *
 * Its filesystem backend silently drops objects whose names end in `/` (the folder markers
 * of empty folders), so it runs in memory; an outage is then the server taken away from its
 * clients (SIGSTOP, and a proxy on loopback that refuses and resets connections) and given
 * back with its data, rather than a restart.
 *
 * ```ts ignore
 * import { startFakeGcs } from "./gcs/harness.ts";
 * const gcs = await startFakeGcs();
 * try {
 *   // gcs.env: STORAGE_EMULATOR_HOST for a kt-deno process
 * } finally {
 *   await gcs.stop();
 * }
 * ```
 *
 * @module
 */

import { buildTool } from "../cluster/host.ts";
import { freePort } from "../ports.ts";
import { TcpProxy } from "../tcp_proxy.ts";
import { until } from "../until.ts";

const HERE = new URL(".", import.meta.url).pathname;

/** A running fake-gcs-server with one bucket. */
export interface FakeGcs {
  endpoint: string;
  bucket: string;
  /** Environment for a process that should use this server. */
  env: Record<string, string>;
  /** The PID of the server process running now. */
  pid: number;
  /** Stops the server for good and removes its data. */
  stop(): Promise<void>;
  /** Takes the server away: connections to the endpoint are refused, open ones reset. */
  halt(): Promise<void>;
  /** Gives the server back on the same endpoint with the same data. */
  restart(): Promise<void>;
}

/** Builds fake-gcs-server if needed; returns the binary. */
export function buildFakeGcs(): Promise<string> {
  return buildTool(`${HERE}build.sh`);
}

/**
 * Starts fake-gcs-server on `host` (127.0.0.1, or the node IP of a running test cluster)
 * and creates a bucket. On loopback, clients reach it through a proxy that
 * {@linkcode FakeGcs.halt} stops.
 */
export async function startFakeGcs(bucket = "kt-test", host = "127.0.0.1"): Promise<FakeGcs> {
  const binary = await buildFakeGcs();
  const port = freePort();
  const server = `http://${host}:${port}`;
  const proxy = host === "127.0.0.1" ? new TcpProxy({ hostname: host, port }) : undefined;
  proxy?.start();
  const endpoint = proxy ? `http://127.0.0.1:${proxy.port}` : server;
  const spawn = () =>
    new Deno.Command(binary, {
      args: [
        "-scheme",
        "http",
        "-host",
        host,
        "-port",
        String(port),
        "-backend",
        "memory",
        "-public-host",
        `${host}:${port}`,
        "-external-url",
        endpoint,
        "-log-level",
        "error",
      ],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
  const child = spawn();
  const end = async (signal: Deno.Signal) => {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
    const timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
    }, 5000);
    await child.status;
    clearTimeout(timer);
  };
  const stop = async () => {
    proxy?.stop();
    try {
      child.kill("SIGCONT");
    } catch { /* gone */ }
    await end("SIGTERM");
  };
  const ready = () =>
    until(
      "fake-gcs-server to become ready",
      60,
      () =>
        fetch(`${server}/storage/v1/b`).then(async (r) => {
          await r.body?.cancel();
          return r.ok;
        }),
    );
  try {
    await ready();
    const created = await fetch(`${server}/storage/v1/b?project=kt-test`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: bucket }),
    });
    if (!created.ok) {
      throw new Error(`creating bucket ${bucket}: ${created.status} ${await created.text()}`);
    }
    await created.body?.cancel();
    const gcs: FakeGcs = {
      endpoint,
      bucket,
      env: { STORAGE_EMULATOR_HOST: endpoint },
      pid: child.pid,
      stop,
      halt: () => {
        proxy?.stop();
        child.kill("SIGSTOP");
        return Promise.resolve();
      },
      restart: async () => {
        child.kill("SIGCONT");
        proxy?.start();
        await ready();
      },
    };
    return gcs;
  } catch (error) {
    await stop();
    throw error;
  }
}
