/**
 * Reads what a report needs from a data dir: the state document, the task times of the
 * jobs that get a box, and the last lines of failed tasks' logs. Reads are bounded by the
 * boxes drawn, not by the size of the run.
 *
 * @module
 */
import { readDecisions } from "../records/cache.ts";
import { readStateDocument } from "../records/state_read.ts";
import { taskLogPath } from "../records/layout.ts";
import { lastLines } from "../records/log_tail.ts";
import { failedTasks } from "../records/failures.ts";
import type { JobState, StateDocument } from "../engine/state.ts";
import type { DataFs } from "../storage/data_fs.ts";
import {
  buildModel,
  LIMITS,
  type Limits,
  type ReportModel,
  shownJobs,
  type TaskLog,
} from "./model.ts";
import { loadLineage } from "./lineage.ts";
import { readRunTimes, readTaskTimes, type TaskTime } from "../records/task_times.ts";
import { mapLimited } from "../async/map_limited.ts";

/** Indexes of a failed job's failed tasks: from its task times, else those kept with it. */
function failedIndexes(job: Readonly<JobState>, times: TaskTime[] | undefined) {
  if (times) return times.filter((t) => !t.ok).map((t) => t.index);
  return failedTasks(job);
}

/**
 * Reads a run's report model from its data dir. Throws NotFoundError when there is no such
 * run. `doc` is the run's state document when the caller holds it already (the launcher, at
 * the run's end), so that it is not read and parsed again.
 */
export async function loadReport(
  fs: DataFs,
  runId: string,
  limits: Limits = LIMITS,
  doc?: Readonly<StateDocument>,
): Promise<ReportModel> {
  doc ??= await readStateDocument(fs, runId);
  const shown = shownJobs(doc, limits);
  const runTimes = await readRunTimes(fs, runId);
  const times = new Map<string, TaskTime[]>();
  const logs = new Map<string, TaskLog[]>();
  const cache = new Map<string, { cached: number; ran: number }>();
  const decided = await readDecisions(fs, runId);
  for (const [job, decisions] of Object.entries(decided)) {
    const cached = decisions.filter((d) => d.outcome === "cached").length;
    cache.set(job, { cached, ran: decisions.length - cached });
  }
  await mapLimited([...shown], 16, async (name) => {
    const job = doc.jobs[name];
    if (!job.submitted_at) return;
    const count = job.type === "dynamic" ? 1 : job.tasks?.length ?? 0;
    const found = await readTaskTimes(fs, runId, runTimes, name, count, limits.taskBars);
    if (found) times.set(name, found);
    if (job.status !== "Failed") return;
    const indexes = failedIndexes(job, found).slice(0, limits.logTasks);
    const tails = await Promise.all(indexes.map(async (index) => ({
      index,
      lines: await lastLines(fs, taskLogPath(runId, name, index), limits.logLines),
    })));
    const withLines = tails.filter((t): t is TaskLog =>
      t.lines !== undefined && t.lines.length > 0
    );
    if (withLines.length) logs.set(name, withLines);
  });
  const lineage = cache.size ? await loadLineage(fs, doc, shown, decided, limits) : undefined;
  return buildModel(doc, { shown, times, logs, limits, cache, lineage });
}
