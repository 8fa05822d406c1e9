/**
 * Kubernetes names for jobs: kube-transform's sanitizing and the checks it lacked.
 *
 * @module
 */

/** The longest name a Kubernetes label value or DNS-1123 label may have. */
export const MAX_NAME_LENGTH = 63;

/**
 * Sanitizes a job name as kube-transform does: lower-case, `_` to `-`, every character
 * outside `[a-z0-9-]` dropped, cut to 63 characters.
 *
 * @example
 * ```ts
 * import { sanitizeName } from "./names.ts";
 * sanitizeName("Load_Data (v2)"); // "load-datav2"
 * ```
 */
export function sanitizeName(name: string): string {
  return name.toLowerCase().replaceAll("_", "-").replace(/[^a-z0-9-]/g, "").slice(
    0,
    MAX_NAME_LENGTH,
  );
}

/** True when a name is a valid DNS-1123 label (what Kubernetes object names need). */
export function isDnsLabel(name: string): boolean {
  return name.length > 0 && name.length <= MAX_NAME_LENGTH &&
    /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(name);
}

/** The automatic name of the job at `index` of a list whose base is `base`. */
export function automaticName(base: string, index: number): string {
  return `${base}-job-${index}`;
}
