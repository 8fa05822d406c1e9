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

/**
 * The run id a scheduled controller Job takes, from that Job's uid: the same for every
 * pod of the Job (a restarted controller resumes its run), another for every firing.
 *
 * @example
 * ```ts
 * import { runIdFor } from "./run_id.ts";
 * const id = await runIdFor("5f2c1a9e-0000-4000-8000-000000000000");
 * id === await runIdFor("5f2c1a9e-0000-4000-8000-000000000000"); // true
 * ```
 */
export async function runIdFor(seed: string): Promise<string> {
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(seed)),
  );
  return "ktpr" + Array.from(digest.slice(0, 4), (b) => b.toString(16).padStart(2, "0")).join("");
}
