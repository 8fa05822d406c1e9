/**
 * Times and durations as the report writes them.
 *
 * @module
 */

/**
 * A duration in milliseconds, in the largest units that matter.
 *
 * @example
 * ```ts
 * import { formatDuration } from "./time_format.ts";
 * formatDuration(1234); // "1.23 s"
 * formatDuration(125_000); // "2 min 5 s"
 * ```
 */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(2)} s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

/** An ISO time as `2026-11-27 00:14:03 UTC`. */
export function formatTime(iso: string | undefined): string {
  if (!iso) return "—";
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC`;
}

/** Milliseconds between two ISO times, or undefined when either is missing. */
export function between(start?: string, end?: string): number | undefined {
  return start && end ? Date.parse(end) - Date.parse(start) : undefined;
}
