/**
 * A real MinIO server for the tests: built from its Go module (tests/minio/build.sh, cached
 * outside the repository), started with a temporary folder on loopback, or on the test
 * cluster's node IP so that pods reach it too, stopped by PID.
 *
 * ```ts ignore
 * import { startMinio } from "./minio/harness.ts";
 * const minio = await startMinio();
 * try {
 *   // minio.env: AWS_ENDPOINT_URL_S3, AWS_ACCESS_KEY_ID, ... for a kt-deno process
 * } finally {
 *   await minio.stop();
 * }
 * ```
 *
 * @module
 */

import { buildTool } from "../cluster/host.ts";
import { freePort } from "../ports.ts";
import { until } from "../until.ts";

const HERE = new URL(".", import.meta.url).pathname;

/** A running MinIO server with one bucket. */
export interface Minio {
  endpoint: string;
  accessKey: string;
  secretKey: string;
  bucket: string;
  /** Environment for a process that should use this server (endpoint, path style, keys). */
  env: Record<string, string>;
  /** The PID of the server process running now. */
  pid: number;
  /** Stops the server for good and removes its data. */
  stop(): Promise<void>;
  /** Stops the server process (SIGKILL, as a crash), keeping its data and port. */
  halt(): Promise<void>;
  /** Starts the server again on the same port with the same data; resolves once it is ready. */
  restart(): Promise<void>;
}

/** Builds MinIO if needed; returns the binary. */
export function buildMinio(): Promise<string> {
  return buildTool(`${HERE}build.sh`);
}

/**
 * Starts MinIO on `host` (127.0.0.1, or the node IP of a running test cluster, where both
 * this machine and pods reach it) and creates a bucket.
 */
export async function startMinio(bucket = "kt-test", host = "127.0.0.1"): Promise<Minio> {
  const binary = await buildMinio();
  const dir = await Deno.makeTempDir({ prefix: "kt-minio-" });
  const [port, consolePort] = [freePort(), freePort()];
  const accessKey = "ktdeno";
  const secretKey = "ktdeno-secret-key";
  const endpoint = `http://${host}:${port}`;
  const spawn = () =>
    new Deno.Command(binary, {
      args: [
        "server",
        `${dir}/data`,
        "--address",
        `${host}:${port}`,
        "--console-address",
        `${host}:${consolePort}`,
        "--quiet",
      ],
      env: {
        MINIO_ROOT_USER: accessKey,
        MINIO_ROOT_PASSWORD: secretKey,
        MINIO_BROWSER: "off",
        MINIO_UPDATE: "off",
      },
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
  const ready = () =>
    until(
      "MinIO to become ready",
      60,
      () =>
        fetch(`${endpoint}/minio/health/ready`).then(async (r) => {
          await r.body?.cancel();
          return r.ok;
        }),
    );
  try {
    await ready();
    const env = {
      AWS_ENDPOINT_URL_S3: endpoint,
      KT_S3_FORCE_PATH_STYLE: "true",
      AWS_REGION: "us-east-1",
      AWS_ACCESS_KEY_ID: accessKey,
      AWS_SECRET_ACCESS_KEY: secretKey,
    };
    const { S3Client, CreateBucketCommand } = await import("@aws-sdk/client-s3");
    const client = new S3Client({
      endpoint,
      region: "us-east-1",
      forcePathStyle: true,
      credentials: { accessKeyId: accessKey, secretAccessKey: secretKey },
    });
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
    client.destroy();
    const minio: Minio = {
      endpoint,
      accessKey,
      secretKey,
      bucket,
      env,
      pid: child.pid,
      stop,
      halt: () => end("SIGKILL"),
      restart: async () => {
        child = spawn();
        minio.pid = child.pid;
        await ready();
      },
    };
    return minio;
  } catch (error) {
    await stop();
    throw error;
  }
}
