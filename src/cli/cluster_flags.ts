/**
 * Parsers of the flags of a run on Kubernetes: `--run-as` and the S3 endpoint pods use.
 *
 * @module
 */
import type { RunAs } from "../k8s/manifests.ts";
import { UsageError } from "./errors.ts";

/**
 * Parses `--run-as UID[:GID]` (the group defaults to the user id); root is refused, since
 * every pod runs as non-root.
 *
 * @example
 * ```ts
 * import { parseRunAs } from "./cluster_flags.ts";
 * parseRunAs("1000"); // { uid: 1000, gid: 1000 }
 * parseRunAs("1000:100"); // { uid: 1000, gid: 100 }
 * ```
 */
export function parseRunAs(text: string): RunAs {
  const match = /^(\d{1,10})(?::(\d{1,10}))?$/.exec(text);
  const uid = Number(match?.[1]);
  if (!match || uid === 0 || uid > 2 ** 31 - 1 || Number(match[2] ?? 0) > 2 ** 31 - 1) {
    throw new UsageError(
      `--run-as must be UID[:GID] of a non-root user (numbers, UID not 0), got ${
        JSON.stringify(text)
      }`,
    );
  }
  return { uid, gid: match[2] === undefined ? uid : Number(match[2]) };
}

/** Checks `--s3-endpoint-in-cluster URL`: an http or https URL. */
export function parseEndpoint(flag: string): (text: string) => string {
  return (text) => {
    let url: URL | undefined;
    try {
      url = new URL(text);
    } catch { /* reported below */ }
    if (!url || !/^https?:$/.test(url.protocol)) {
      throw new UsageError(
        `${flag} must be an http:// or https:// URL, got ${JSON.stringify(text)}`,
      );
    }
    return text;
  };
}
