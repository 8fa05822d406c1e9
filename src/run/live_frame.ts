/**
 * One frame of the live view: the jobs of a run as lines that fit a terminal. Never more
 * lines than the terminal has rows (minus one, for the cursor), none wider than it; when
 * the jobs do not fit, running and failed jobs come first, then others while there is
 * room, and the rest fold into counts (`… 71 completed, 4 pending`).
 *
 * @module
 */
import type { JobProgress } from "../executors/executor.ts";

/** What a frame shows of one job. */
export interface FrameJob {
  name: string;
  status: string;
}

const MARK: Record<string, string> = {
  Pending: "·",
  Running: "▶",
  AwaitingDescendants: "…",
  Completed: "✔",
  Failed: "✘",
  SkippedDueToUpstreamFailure: "-",
  DescendantFailed: "✘",
};

/** The statuses shown first when jobs do not fit, in this order: what needs an eye. */
const FIRST = ["Running", "Failed", "DescendantFailed", "AwaitingDescendants"];

const FOLDED: Record<string, string> = {
  Pending: "pending",
  Running: "running",
  AwaitingDescendants: "awaiting descendants",
  Completed: "completed",
  Failed: "failed",
  SkippedDueToUpstreamFailure: "skipped",
  DescendantFailed: "descendant failed",
};

/** Task counts as the view shows them: `3/10 done, 2 running, 1 failed, 4 not started`. */
export function taskCounts(t: JobProgress | undefined): string {
  if (!t) return "";
  return `${t.succeeded}/${t.total} done, ${t.running} running, ${t.failed} failed${
    t.notStarted ? `, ${t.notStarted} not started` : ""
  }`;
}

/** Cuts a line to `width` characters (code points), marking the cut with `…`. */
function fit(line: string, width: number): string {
  const chars = Array.from(line);
  return chars.length <= width ? line : chars.slice(0, Math.max(0, width - 1)).join("") + "…";
}

/**
 * The lines of one frame for a terminal of `rows` by `columns`.
 *
 * @example
 * ```ts
 * import { frameLines } from "./live_frame.ts";
 * const jobs = Array.from({ length: 80 }, (_, i) => ({
 *   name: `j${i}`,
 *   status: i < 2 ? "Running" : i < 78 ? "Completed" : "Pending",
 * }));
 * frameLines(jobs, new Map(), 5, 80);
 * // 4 lines: j0 and j1 (running), j2 (completed), then "… 75 completed, 2 pending"
 * ```
 */
export function frameLines(
  jobs: readonly FrameJob[],
  tasks: ReadonlyMap<string, JobProgress>,
  rows: number,
  columns: number,
): string[] {
  const room = Math.max(1, rows - 1);
  const width = Math.max(1, columns - 1);
  let nameWidth = 3;
  for (const job of jobs) nameWidth = Math.max(nameWidth, Math.min(40, job.name.length));
  const line = (job: FrameJob) =>
    fit(
      `${MARK[job.status] ?? "?"} ${job.name.padEnd(nameWidth)} ${job.status.padEnd(19)} ${
        taskCounts(tasks.get(job.name))
      }`.trimEnd(),
      width,
    );
  if (jobs.length <= room) return jobs.map(line);
  // One line for the fold; the rest for the jobs that need an eye, in run order, then
  // as many others as there is room for.
  const shown: FrameJob[] = [];
  for (const status of FIRST) {
    for (const job of jobs) {
      if (shown.length >= room - 1) break;
      if (job.status === status) shown.push(job);
    }
  }
  const order = new Map(jobs.map((job, i) => [job, i]));
  shown.sort((a, b) => order.get(a)! - order.get(b)!);
  const first = new Set(shown);
  for (const job of jobs) {
    if (shown.length >= room - 1) break;
    if (!first.has(job)) shown.push(job);
  }
  const kept = new Set(shown);
  const folded = new Map<string, number>();
  for (const job of jobs) {
    if (!kept.has(job)) folded.set(job.status, (folded.get(job.status) ?? 0) + 1);
  }
  const counts = [...folded].sort((a, b) => b[1] - a[1])
    .map(([status, n]) => `${n} ${FOLDED[status] ?? status.toLowerCase()}`);
  return [...shown.map(line), fit(`… ${counts.join(", ")}`, width)];
}
