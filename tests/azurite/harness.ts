/**
 * A real Azure Blob emulator for the tests: Azurite, Microsoft's own, installed from npm
 * (tests/azurite/build.sh, cached outside the repository) and run with node, started with a
 * temporary folder on loopback, or on the test cluster's node IP so that pods reach it too,
 * stopped by PID.
 *
 * ```ts ignore
 * import { startAzurite } from "./azurite/harness.ts";
 * const azurite = await startAzurite();
 * try {
 *   // azurite.env: AZURE_STORAGE_CONNECTION_STRING for a kt-deno process
 * } finally {
 *   await azurite.stop();
 * }
 * ```
 *
 * @module
 */

import { buildTool } from "../cluster/host.ts";
import { freePort } from "../ports.ts";
import { until } from "../until.ts";

const HERE = new URL(".", import.meta.url).pathname;

/** Azurite's well-known development account (public, documented by Microsoft). */
export const AZURITE_ACCOUNT = "devstoreaccount1";
/** The development account's key (public, documented by Microsoft). */
export const AZURITE_KEY =
  "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/** A running Azurite blob server with one container. */
export interface Azurite {
  endpoint: string;
  container: string;
  connectionString: string;
  /** Environment for a process that should use this server. */
  env: Record<string, string>;
  /** The PID of the server process running now. */
  pid: number;
  /** Stops the server for good and removes its data. */
  stop(): Promise<void>;
  /**
   * Stops the server process (SIGTERM: Azurite saves its metadata database on the way out;
   * a SIGKILL loses what it wrote since its last save), keeping its data and port.
   */
  halt(): Promise<void>;
  /** Starts the server again on the same port with the same data; resolves once it is ready. */
  restart(): Promise<void>;
}

/** Installs Azurite if needed; returns its blob server's script. */
export function buildAzurite(): Promise<string> {
  return buildTool(`${HERE}build.sh`);
}

/** The connection string of Azurite's development account at an endpoint. */
export function azuriteConnectionString(endpoint: string): string {
  return `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=${endpoint}/${AZURITE_ACCOUNT};`;
}

/**
 * Starts Azurite's blob server on `host` (127.0.0.1, or the node IP of a running test
 * cluster) with its data in a temporary folder (kept across {@linkcode Azurite.restart})
 * and creates a container.
 */
export async function startAzurite(container = "kt-test", host = "127.0.0.1"): Promise<Azurite> {
  const script = await buildAzurite();
  const dir = await Deno.makeTempDir({ prefix: "kt-azurite-" });
  const port = freePort();
  const endpoint = `http://${host}:${port}`;
  const spawn = () =>
    new Deno.Command("node", {
      args: [
        script,
        "--blobHost",
        host,
        "--blobPort",
        String(port),
        "--location",
        dir,
        "--silent",
        "--skipApiVersionCheck",
        "--disableTelemetry",
        "--loose",
      ],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
  let child = spawn();
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
    await end("SIGTERM");
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  // any HTTP answer (an unsigned request is refused) means the server listens
  const ready = () =>
    until(
      "Azurite to become ready",
      60,
      () =>
        fetch(`${endpoint}/${AZURITE_ACCOUNT}?comp=list`).then(async (r) => {
          await r.body?.cancel();
          return true;
        }),
    );
  try {
    await ready();
    const connectionString = azuriteConnectionString(endpoint);
    const { BlobServiceClient } = await import("@azure/storage-blob");
    await BlobServiceClient.fromConnectionString(connectionString)
      .getContainerClient(container).create();
    const azurite: Azurite = {
      endpoint,
      container,
      connectionString,
      env: { AZURE_STORAGE_CONNECTION_STRING: connectionString },
      pid: child.pid,
      stop,
      halt: () => end("SIGTERM"),
      restart: async () => {
        child = spawn();
        azurite.pid = child.pid;
        await ready();
      },
    };
    return azurite;
  } catch (error) {
    await stop();
    throw error;
  }
}
