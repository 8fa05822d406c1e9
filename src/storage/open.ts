/**
 * Chooses the storage driver for a data dir by its form.
 *
 * @module
 */
import type { StorageDriver } from "./driver.ts";
import { LocalDriver } from "./local.ts";
import { RetryingDriver, storageRetrySeconds } from "./retrying.ts";
import { S3_ENV, S3Driver, type S3Options } from "./s3.ts";
import { GCS_ENV, openGcs } from "./gcs.ts";
import { AZURE_ENV, openAzure } from "./azure.ts";

/**
 * Opens the driver for a data dir: `s3://bucket/prefix`, `gs://bucket/prefix`,
 * `az://container/prefix` (or `abfs[s]://container@account.dfs.core.windows.net/prefix`)
 * or a local path, wrapped so that
 * transient errors are retried for `KT_STORAGE_RETRY_SECONDS` (see `retrying.ts`).
 *
 * @example
 * ```ts
 * import { openStorage } from "./open.ts";
 * const store = openStorage("./kt-data");
 * ```
 */
export function openStorage(dataDir: string, s3: S3Options = {}): StorageDriver {
  try {
    return new RetryingDriver(driverFor(dataDir, s3));
  } catch (error) {
    throw new DataDirError(`data dir ${dataDir} cannot be used: ${(error as Error).message}`);
  }
}

function driverFor(dataDir: string, s3: S3Options): StorageDriver {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(dataDir)?.[1]?.toLowerCase();
  if (scheme === undefined || scheme === "file") {
    return new LocalDriver(scheme ? dataDir.slice("file://".length) : dataDir);
  }
  if (scheme === "s3") return new S3Driver(dataDir, s3);
  if (scheme === "gs") return openGcs(dataDir);
  if (scheme === "az" || scheme === "abfs" || scheme === "abfss") return openAzure(dataDir);
  throw new Error(
    `unsupported scheme ${scheme}:// (expected a local path, s3://bucket/prefix, gs://bucket/prefix, az://container/prefix or abfs://container@account.dfs.core.windows.net/prefix)`,
  );
}

/**
 * Whether a local data dir can hold files, found without leaving anything behind: a file
 * is made and removed in it, or (when it does not exist yet) in its nearest existing
 * ancestor. `/proc`, `/sys`, a read-only mount or a file there throw.
 */
async function probeLocal(dataDir: string): Promise<void> {
  const path = dataDir.startsWith("file://") ? dataDir.slice("file://".length) : dataDir;
  let dir = path.startsWith("/") ? path : `${Deno.cwd()}/${path}`;
  while (true) {
    const info = await Deno.stat(dir).catch((error) => {
      if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
        return null;
      }
      throw error;
    });
    if (info?.isDirectory) break;
    if (info) throw new Error(`${dir} is not a directory`);
    dir = dir.replace(/\/+$/, "").replace(/\/[^/]*$/, "") || "/";
  }
  let probe: string;
  try {
    probe = await Deno.makeTempFile({ dir, prefix: ".kt-deno-probe-" });
  } catch (error) {
    throw new Error(`it cannot hold files: ${(error as Error).message}`);
  }
  await Deno.remove(probe);
}

/**
 * Opens a data dir's driver and checks that the store can be used, before anything is
 * submitted: a missing bucket, refused credentials or an unreachable endpoint throw a
 * {@linkcode DataDirError} that says which, for which URL. With `write`, a local data dir
 * must also be able to hold files (not `/proc`, nor read-only).
 */
export async function checkDataDir(
  dataDir: string,
  options: { write?: boolean } = {},
): Promise<StorageDriver> {
  let driver: StorageDriver;
  try {
    storageRetrySeconds();
    driver = openStorage(dataDir);
    await driver.check();
    if (options.write && isLocalDataDir(dataDir)) await probeLocal(dataDir);
  } catch (error) {
    if (error instanceof DataDirError) throw error;
    throw new DataDirError(`data dir ${dataDir} cannot be used: ${(error as Error).message}`);
  }
  return driver;
}

/** A data dir that cannot be used at all. */
export class DataDirError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DataDirError";
  }
}

/** True when a data dir is a local path (and so can be shared with pods by a hostPath mount). */
export function isLocalDataDir(dataDir: string): boolean {
  return !/^[a-z][a-z0-9+.-]*:\/\//i.test(dataDir) || dataDir.startsWith("file://");
}

/**
 * The object-store settings of this process's environment that are not secrets (endpoints,
 * region, account, retry bound), to pass on to the controller and the pods. Keys and
 * connection strings go by `--secret-env`, or the pods' own identity.
 */
export function storeEnvForPods(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of [...S3_ENV, ...GCS_ENV, ...AZURE_ENV]) {
    const value = Deno.env.get(name);
    if (value) env[name] = value;
  }
  return env;
}
