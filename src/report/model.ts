/**
 * What a report shows, computed from a state document: which jobs get a box of their own,
 * which are folded into summary boxes, the edges between boxes, and each job's figures.
 * Pure: the data dir is read by `load.ts`.
 *
 * Big runs stay readable by folding: each group (the top level, or the jobs one dynamic job
 * returned) shows at most {@linkcode Limits.groupBoxes} boxes, the whole graph at most
 * {@linkcode Limits.totalBoxes}; the jobs left over in a group, with everything they
 * returned, become one summary box that counts them by status. Failed and running jobs
 * are the last to be folded.
 *
 * @module
 */
import type { JobState, StateDocument } from "../engine/state.ts";
import type { TaskTime } from "../records/task_times.ts";

/** How many boxes a report draws before it folds jobs into summaries. */
export interface Limits {
  /** Most boxes for one group (the top level, or one dynamic job's returned jobs). */
  groupBoxes: number;
  /** Most boxes in the whole graph. */
  totalBoxes: number;
  /** Most tasks of one job drawn as bars of their own in the timeline. */
  taskBars: number;
  /** Most failed tasks of one job whose log is shown. */
  logTasks: number;
  /** Last lines of a failed task's log that are shown. */
  logLines: number;
  /** With `--cache`: most tasks of one job whose decision and files are shown. */
  lineageTasks: number;
  /** With `--cache`: most tasks in the whole report whose decision and files are shown. */
  lineageTotal: number;
  /** Most files read (and most written) listed for one task. */
  lineageFiles: number;
  /** Most cache entries of other tasks read to find who wrote the files shown tasks read. */
  lineageWriters: number;
}

/** The limits reports use. */
export const LIMITS: Limits = {
  groupBoxes: 12,
  totalBoxes: 200,
  taskBars: 12,
  logTasks: 3,
  logLines: 20,
  lineageTasks: 5,
  lineageTotal: 100,
  lineageFiles: 10,
  lineageWriters: 400,
};

/** Tasks of a job that are done, failed and never started, out of its total. */
export interface TaskCounts {
  total: number;
  done: number;
  failed: number;
  /** Tasks of a failed job that never ran (the run was stopped before their turn). */
  notStarted: number;
}

/** The last lines of a failed task's log. */
export interface TaskLog {
  index: number;
  lines: string[];
}

/** A task that wrote a file, as lineage names it. */
export interface Writer {
  job: string;
  index: number;
  /** The run it wrote in, when that is not the report's run (a cached task's entry). */
  run?: string;
}

/**
 * One task of a run with the cache: whether it was skipped (`cached`) or ran and why, and
 * its lineage from its cache entry: the files it read (with the task that last wrote each,
 * where the report found it) and those it wrote. At most {@linkcode Limits.lineageFiles}
 * of each are listed; `readCount` and `writeCount` count them all.
 */
export interface TaskLineage {
  index: number;
  outcome: "cached" | "ran";
  why: string;
  /** The run whose entry this is (a cached task's is an earlier run's). */
  entryRun?: string;
  reads: { path: string; writer?: Writer }[];
  readCount: number;
  writes: string[];
  writeCount: number;
}

/** One job as the report shows it. */
export interface JobView {
  name: string;
  type: "static" | "dynamic";
  status: string;
  parent?: string;
  dependencies: string[];
  attempts: number;
  retries: number;
  submitted?: string;
  finished?: string;
  error?: string;
  tasks: TaskCounts;
  /** Jobs a dynamic job returned. */
  returned?: number;
  times?: TaskTime[];
  logs?: TaskLog[];
  /** With `--cache`: its tasks skipped (cached) and run. */
  cache?: { cached: number; ran: number };
  /** With `--cache`: some of its tasks' decisions and files (see {@linkcode TaskLineage}). */
  lineage?: TaskLineage[];
}

/** A box of the graph: one job, or a summary of the jobs folded in one group. */
export type Box =
  | { kind: "job"; id: string; job: string; group: string | null }
  | {
    kind: "summary";
    id: string;
    group: string | null;
    /** Every job this box stands for, by status. */
    counts: Record<string, number>;
    total: number;
    start?: string;
    end?: string;
  };

/** An edge between two boxes. `dependency`: `to` waits for `from`; `returned`: `from` returned `to`. */
export interface Edge {
  from: string;
  to: string;
  kind: "dependency" | "returned";
}

/** Everything a report shows. */
export interface ReportModel {
  doc: StateDocument;
  jobs: JobView[];
  boxes: Box[];
  edges: Edge[];
  /** Dynamic jobs whose returned jobs are drawn inside their frame. */
  frames: string[];
  limits: Limits;
}

/** Box id of a job. */
export function jobBoxId(name: string): string {
  return `j:${name}`;
}

/** Box id of a group's summary (`""` is the top level). */
export function summaryBoxId(group: string | null): string {
  return `s:${group ?? ""}`;
}

const FOLD_LAST: Record<string, number> = {
  Failed: 0,
  DescendantFailed: 1,
  Running: 2,
  AwaitingDescendants: 3,
};

/** Jobs of each group, in registration order (`null` is the top level). */
function groupsOf(doc: StateDocument): Map<string | null, JobState[]> {
  const groups = new Map<string | null, JobState[]>();
  for (const job of Object.values(doc.jobs)) {
    const key = job.parent_job ?? null;
    let members = groups.get(key);
    if (!members) groups.set(key, members = []);
    members.push(job);
  }
  return groups;
}

/** Names of the jobs that get a box of their own. */
export function shownJobs(doc: StateDocument, limits: Limits = LIMITS): Set<string> {
  const groups = groupsOf(doc);
  const shown = new Set<string>();
  // Every queued group will take at least one box (its summary): that much is reserved.
  let budget = limits.totalBoxes;
  let reserved = 1;
  for (const queue: (string | null)[] = [null]; queue.length > 0;) {
    const members = groups.get(queue.shift()!) ?? [];
    reserved--;
    if (members.length === 0) continue;
    // This group's boxes stay within groupBoxes; with the boxes reserved for the groups of
    // the dynamic jobs it shows, within what is left of the budget.
    const available = Math.max(1, budget - reserved);
    const order = members.map((job, i) => ({ job, i, rank: FOLD_LAST[job.status] ?? 9 }));
    order.sort((a, b) => a.rank - b.rank || a.i - b.i);
    const picked: typeof order = [];
    let used = 0;
    for (const o of order) {
      const cost = groups.has(o.job.name) ? 2 : 1;
      const summary = members.length > picked.length + 1 ? 1 : 0;
      if (picked.length + 1 + summary > limits.groupBoxes) break;
      if (used + cost + summary > available) break;
      picked.push(o);
      used += cost;
    }
    picked.sort((a, b) => a.i - b.i);
    budget -= picked.length + (picked.length < members.length ? 1 : 0);
    for (const { job } of picked) {
      shown.add(job.name);
      if (groups.has(job.name)) {
        queue.push(job.name);
        reserved++;
      }
    }
  }
  return shown;
}

/**
 * The failed and never-started task counts a failed job's executor gave (`task_counts`);
 * for a document written before it kept them, read from its error (`2 of 5 tasks failed
 * (1 not started): ...`, `... (3 of 5 tasks not started)`).
 */
function failedCounts(job: JobState): { failed?: number; notStarted: number } | undefined {
  if (job.task_counts) {
    return { failed: job.task_counts.failed, notStarted: job.task_counts.not_started };
  }
  const summary = /^(\d+) of (\d+) tasks failed(?: \((\d+) not started\))?/.exec(job.error ?? "");
  const never = /\((\d+) of \d+ tasks not started\)/.exec(job.error ?? "");
  if (summary) return { failed: Number(summary[1]), notStarted: Number(summary[3] ?? 0) };
  if (never) return { notStarted: Number(never[1]) };
  return undefined;
}

/** A job's task counts: from its task times when known, else from its status and counts. */
function countsOf(job: JobState, times: TaskTime[] | undefined): TaskCounts {
  const total = job.type === "dynamic" ? 1 : job.tasks?.length ?? 0;
  const stopped = job.status === "Failed" && /^(interrupted|cancelled):/.test(job.error ?? "");
  const counts = job.status === "Failed" ? failedCounts(job) : undefined;
  const notStarted = counts?.notStarted ?? 0;
  if (times) {
    const failed = times.filter((t) => !t.ok).length;
    const done = times.length - failed;
    // A stopped job's tasks that left no time never ran.
    const rest = job.status === "Failed" ? total - done - failed : 0;
    return { total, done, failed, notStarted: Math.max(notStarted, stopped ? rest : 0) };
  }
  switch (job.status) {
    case "Completed":
    case "AwaitingDescendants":
    case "DescendantFailed":
      return { total, done: total, failed: 0, notStarted: 0 };
    case "Failed": {
      if (stopped && counts?.failed === undefined) {
        return { total, done: 0, failed: 0, notStarted: total };
      }
      if (counts?.failed !== undefined) {
        const failed = counts.failed;
        return { total, done: total - failed - notStarted, failed, notStarted };
      }
      // Failed as a whole (its Job, its output), or with only tasks that never started.
      if (counts) return { total, done: 0, failed: 0, notStarted: total };
      return { total, done: 0, failed: total === 1 ? 1 : 0, notStarted: 0 };
    }
    default:
      return { total, done: 0, failed: 0, notStarted: 0 };
  }
}

/** Builds the report of a run from its state document and what was read for its shown jobs. */
export function buildModel(
  doc: StateDocument,
  extras: {
    shown?: Set<string>;
    times?: Map<string, TaskTime[]>;
    logs?: Map<string, TaskLog[]>;
    limits?: Limits;
    cache?: Map<string, { cached: number; ran: number }>;
    lineage?: Map<string, TaskLineage[]>;
  } = {},
): ReportModel {
  const limits = extras.limits ?? LIMITS;
  const shown = extras.shown ?? shownJobs(doc, limits);
  const all = Object.values(doc.jobs);
  // Fields set one by one, in the order the page shows them (not spread in: 10,000 jobs).
  const jobs: JobView[] = all.map((job) => {
    const times = extras.times?.get(job.name);
    const logs = extras.logs?.get(job.name);
    const view = { name: job.name, type: job.type, status: job.status } as JobView;
    if (job.parent_job) view.parent = job.parent_job;
    view.dependencies = job.dependencies ?? [];
    view.attempts = job.attempts ?? 0;
    view.retries = job.task_retries ?? 0;
    if (job.submitted_at) view.submitted = job.submitted_at;
    if (job.finished_at) view.finished = job.finished_at;
    if (job.error) view.error = job.error;
    view.tasks = countsOf(job, times);
    if (job.direct_descendants) view.returned = job.direct_descendants.length;
    if (times) view.times = times;
    if (logs?.length) view.logs = logs;
    const cache = extras.cache?.get(job.name);
    if (cache) view.cache = cache;
    const lineage = extras.lineage?.get(job.name);
    if (lineage) view.lineage = lineage;
    return view;
  });

  const rep = new Map<string, string>();
  const repOf = (job: JobState): string => {
    let id = rep.get(job.name);
    if (id !== undefined) return id;
    const parent = job.parent_job === undefined ? undefined : doc.jobs[job.parent_job];
    if (shown.has(job.name)) id = jobBoxId(job.name);
    else if (!parent || shown.has(parent.name)) id = summaryBoxId(parent?.name ?? null);
    else id = repOf(parent);
    rep.set(job.name, id);
    return id;
  };

  const boxes: Box[] = [];
  const summaries = new Map<string, Extract<Box, { kind: "summary" }>>();
  for (const job of all) {
    const id = repOf(job);
    if (id.startsWith("j:")) {
      boxes.push({ kind: "job", id, job: job.name, group: job.parent_job ?? null });
      continue;
    }
    let summary = summaries.get(id);
    if (!summary) {
      const group = id.slice(2) || null;
      summaries.set(id, summary = { kind: "summary", id, group, counts: {}, total: 0 });
    }
    summary.counts[job.status] = (summary.counts[job.status] ?? 0) + 1;
    summary.total++;
    if (job.submitted_at && (!summary.start || job.submitted_at < summary.start)) {
      summary.start = job.submitted_at;
    }
    if (job.finished_at && (!summary.end || job.finished_at > summary.end)) {
      summary.end = job.finished_at;
    }
  }
  for (const summary of summaries.values()) boxes.push(summary);

  const frames = [...new Set(boxes.flatMap((b) => b.group && shown.has(b.group) ? [b.group] : []))];
  const edges: Edge[] = [];
  const seen = new Set<string>();
  const add = (from: string, to: string, kind: Edge["kind"]) => {
    const key = `${from}>${to}`;
    if (from === to || seen.has(key)) return;
    seen.add(key);
    edges.push({ from, to, kind });
  };
  for (const job of all) {
    const to = repOf(job);
    for (const dep of job.dependencies ?? []) {
      if (doc.jobs[dep]) add(repOf(doc.jobs[dep]), to, "dependency");
    }
  }
  const framed = new Set(frames);
  const groupOf = new Map(boxes.map((b) => [b.id, b.group]));
  const waitsInGroup = new Set(
    edges.filter((e) => groupOf.get(e.from) === groupOf.get(e.to)).map((e) => e.to),
  );
  for (const box of boxes) {
    if (box.group && framed.has(box.group) && !waitsInGroup.has(box.id)) {
      add(jobBoxId(box.group), box.id, "returned");
    }
  }
  return { doc, jobs, boxes, edges, frames, limits };
}
