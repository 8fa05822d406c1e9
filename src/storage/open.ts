/**
 * Chooses the storage driver for a data dir by its form.
 *
 * @module
 */
import type { StorageDriver } from "./driver.ts";
import { LocalDriver } from "./local.ts";
import { S3Driver, type S3Options } from "./s3.ts";

/**
 * Opens the driver for a data dir: `s3://bucket/prefix` or a local path.
 *
 * @example
 * ```ts
 * import { openStorage } from "./open.ts";
 * const store = openStorage("./kt-data");
 * ```
 */
export function openStorage(dataDir: string, s3: S3Options = {}): StorageDriver {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(dataDir)?.[1]?.toLowerCase();
  if (scheme === undefined || scheme === "file") {
    return new LocalDriver(scheme ? dataDir.slice("file://".length) : dataDir);
  }
  if (scheme === "s3") return new S3Driver(dataDir, s3);
  throw new Error(`unsupported data dir ${dataDir}: expected a local path or s3://bucket/prefix`);
}

/** True when a data dir is a local path (and so can be shared with pods by a hostPath mount). */
export function isLocalDataDir(dataDir: string): boolean {
  return !/^[a-z][a-z0-9+.-]*:\/\//i.test(dataDir) || dataDir.startsWith("file://");
}
