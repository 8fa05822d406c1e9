/**
 * The colour of each job status in the report, in the order the legend lists them.
 *
 * @module
 */

/** Fill colour of each of the seven job statuses. */
export const STATUS_COLORS: Readonly<Record<string, string>> = {
  Pending: "#d5dae1",
  Running: "#7cb4f7",
  AwaitingDescendants: "#c3b1f5",
  Completed: "#7ed99b",
  Failed: "#f28b82",
  SkippedDueToUpstreamFailure: "#f6d77a",
  DescendantFailed: "#f7ad6b",
};

/** The colour of a status the report does not know (a newer kt-deno's). */
export const UNKNOWN_COLOR = "#eeeeee";

/** A status's colour. */
export function statusColor(status: string): string {
  return STATUS_COLORS[status] ?? UNKNOWN_COLOR;
}

/** A status as a box shows it, short enough to fit. */
export function shortStatus(status: string): string {
  return status === "SkippedDueToUpstreamFailure"
    ? "Skipped (upstream failed)"
    : status === "AwaitingDescendants"
    ? "Awaiting descendants"
    : status === "DescendantFailed"
    ? "Descendant failed"
    : status;
}
