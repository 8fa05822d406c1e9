/**
 * Housekeeping: which finished runs' metadata folders ({@linkcode metadataDir}: state, spec, task
 * chunks, logs, report) to remove, and removing it. Outputs outside the metadata root are
 * never touched. A run that is still driven (a fresh heartbeat that is not its driver's
 * last, even once its state is final: the driver writes the report after it), a Running
 * run (its driver may be coming back) and a run not started yet (no state document) are
 * kept.
 *
 * @module
 */
import type { StateDocument } from "../engine/state.ts";
import type { DataFs } from "../storage/data_fs.ts";
import { type Heartbeat, readHeartbeat, staleAfterMs } from "./heartbeat.ts";
import { readLaunch } from "./launch.ts";
import { metadataDir, statePath } from "./layout.ts";
import { isRunId } from "./run_id.ts";
import { readEachRun } from "./runs.ts";

/** Which finished runs go: those finished longer ago than `olderThanMs`, or all but the `keep` newest. */
export interface PruneRule {
  olderThanMs?: number;
  keep?: number;
  /** Only the runs this schedule started. */
  schedule?: string;
}

/** A run as prune sees it. */
export interface PrunedRun {
  run_id: string;
  status: StateDocument["status"] | "NotStarted";
  created_at: string;
  finished_at?: string;
  schedule?: string;
  /** Bytes of its metadata (filled in for the runs that go). */
  bytes: number;
}

/** What prune would do: the runs that go, and those kept with why. */
export interface PrunePlan {
  remove: PrunedRun[];
  kept: (PrunedRun & { why: string })[];
}

async function runOf(fs: DataFs, runId: string): Promise<(PrunedRun & { beat: Heartbeat | null })> {
  const beat = await readHeartbeat(fs, runId);
  let summary: Pick<StateDocument, "status" | "created_at" | "finished_at"> | null = beat;
  // A heartbeat that still says Running may lag the state (a driver killed at its end).
  if (!summary || summary.status === "Running") {
    summary = await fs.readJson<StateDocument>(statePath(runId)).catch(() => null);
  }
  const schedule = beat?.schedule ?? (await readLaunch(fs, runId))?.schedule;
  return {
    run_id: runId,
    status: summary?.status ?? "NotStarted",
    created_at: summary?.created_at ?? "",
    ...(summary?.finished_at ? { finished_at: summary.finished_at } : {}),
    ...(schedule ? { schedule } : {}),
    bytes: 0,
    beat,
  };
}

/**
 * Whether a run's driver still works on it: it beat within `staleMs` and has not written
 * its last beat (a finished run's driver writes its report before that).
 */
function driven(beat: Heartbeat | null, now: Date, staleMs: number): boolean {
  return beat !== null && !beat.stopped &&
    now.getTime() - Date.parse(beat.heartbeat_at) <= staleMs;
}

/** Bytes of everything below a run's metadata folder. */
async function bytesOf(fs: DataFs, runId: string): Promise<number> {
  const entries = await fs.driver.walk(metadataDir(runId)).catch(() => []);
  return entries.reduce((sum, entry) => sum + entry.size, 0);
}

/**
 * Decides which runs of a data dir go under `rule`; reads one heartbeat (or state) per
 * run, and walks only the runs that go.
 *
 * @example
 * ```ts ignore
 * const plan = await planPrune(fs, { keep: 10 });
 * await removeRuns(fs, plan.remove);
 * ```
 */
export async function planPrune(
  fs: DataFs,
  rule: PruneRule,
  now = new Date(),
  staleMs = staleAfterMs(),
): Promise<PrunePlan> {
  const runs = (await readEachRun(fs, (id) => runOf(fs, id)))
    .filter((run) => rule.schedule === undefined || run.schedule === rule.schedule)
    .sort((a, b) => b.created_at.localeCompare(a.created_at));
  const plan: PrunePlan = { remove: [], kept: [] };
  let finished = 0;
  for (const { beat, ...run } of runs) {
    if (run.status === "NotStarted" || run.status === "Running") {
      plan.kept.push({ ...run, why: run.status === "Running" ? "Running" : "not started" });
      continue;
    }
    finished++;
    const ended = Date.parse(run.finished_at ?? run.created_at);
    if (rule.keep !== undefined && finished <= rule.keep) {
      plan.kept.push({ ...run, why: `one of the ${rule.keep} newest` });
    } else if (driven(beat, now, staleMs)) {
      plan.kept.push({ ...run, why: "still driven (fresh heartbeat)" });
    } else if (rule.olderThanMs !== undefined && now.getTime() - ended < rule.olderThanMs) {
      plan.kept.push({ ...run, why: "newer than the limit" });
    } else {
      plan.remove.push({ ...run, bytes: await bytesOf(fs, run.run_id) });
    }
  }
  return plan;
}

/** Removes the metadata of the given runs (their metadata folders, nothing else). */
export async function removeRuns(fs: DataFs, runs: readonly PrunedRun[]): Promise<void> {
  for (const run of runs) {
    if (!isRunId(run.run_id)) throw new Error(`not a run id: ${JSON.stringify(run.run_id)}`);
    await fs.rmdir(metadataDir(run.run_id));
  }
}
