/**
 * The `Host` header check of `kt-deno report --serve`: a page served on this machine
 * answers only requests addressed to it by a name it was meant for, so a web page on
 * another site cannot reach it through DNS rebinding (its requests carry that site's
 * name).
 *
 * @module
 */

/** The names of this machine's loopback interface, always allowed. */
export const LOOPBACK_NAMES = ["localhost", "127.0.0.1", "[::1]", "::1"];

/** The host of a `Host` header, lower-case and without its port. */
export function hostOf(header: string): string {
  const host = header.trim().toLowerCase();
  if (host.startsWith("[")) return host.slice(0, host.indexOf("]") + 1);
  const colon = host.lastIndexOf(":");
  return colon < 0 ? host : host.slice(0, colon);
}

/**
 * True when a request's `Host` header names a loopback name or one of `extra` (the
 * `--host` of the command).
 *
 * @example
 * ```ts
 * import { hostAllowed } from "./host_check.ts";
 * hostAllowed("127.0.0.1:8080"); // true
 * hostAllowed("evil.example:8080"); // false
 * hostAllowed("reports.lan", ["reports.lan"]); // true
 * ```
 */
export function hostAllowed(header: string | null, extra: readonly string[] = []): boolean {
  if (!header) return false;
  const host = hostOf(header);
  return LOOPBACK_NAMES.includes(host) || extra.some((name) => hostOf(name) === host);
}
