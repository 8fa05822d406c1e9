/**
 * Run ids: `ktpr` + 8 hex characters, as kube-transform makes them.
 *
 * @module
 */

/** A new random run id. */
export function newRunId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(4));
  return "ktpr" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** True for a string of the run-id form. */
export function isRunId(text: string): boolean {
  return /^ktpr[0-9a-f]{8}$/.test(text);
}
