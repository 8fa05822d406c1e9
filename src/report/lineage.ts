/**
 * The lineage a report shows for the tasks of a run with the cache: for a few tasks of each
 * shown job, whether it was cached or ran and why, the files it read and wrote (from its
 * cache entry), and which task last wrote each file it read, where an entry of the run's
 * tasks says so. Reads are bounded by {@linkcode Limits}: at most `lineageTotal` entries of
 * shown tasks and `lineageWriters` more to find writers, whatever the size of the run.
 *
 * @module
 */
import { type CacheDecision, type CacheEntry, readEntry } from "../records/cache.ts";
import type { StateDocument } from "../engine/state.ts";
import type { DataFs } from "../storage/data_fs.ts";
import type { Limits, TaskLineage, Writer } from "./model.ts";
import { mapLimited } from "../async/map_limited.ts";

/**
 * The decisions of a job whose lineage is shown, at most `count`: the tasks that ran first
 * (what changed is what a reader of a rerun looks for), then the cached ones, by index.
 *
 * @example
 * ```ts
 * import { pickTasks } from "./lineage.ts";
 * pickTasks([
 *   { index: 0, outcome: "cached", why: "its entry holds" },
 *   { index: 1, outcome: "ran", why: "no entry" },
 * ], 1).map((d) => d.index); // [1]
 * ```
 */
export function pickTasks(decisions: CacheDecision[], count: number): CacheDecision[] {
  const rank = (d: CacheDecision) => d.outcome === "ran" ? 0 : 1;
  return [...decisions].sort((a, b) => rank(a) - rank(b) || a.index - b.index).slice(0, count);
}

/** Who wrote each path, from entries: the latest entry that wrote a path names it. */
export class Writers {
  readonly #by = new Map<string, { writer: Writer; time: string }>();
  constructor(readonly runId: string) {}

  /** Takes what an entry wrote. */
  add(entry: CacheEntry): void {
    const writer: Writer = {
      job: entry.job,
      index: entry.index,
      ...(entry.run_id === this.runId ? {} : { run: entry.run_id }),
    };
    for (const path of Object.keys(entry.writes)) {
      const known = this.#by.get(path);
      if (!known || known.time < entry.time) this.#by.set(path, { writer, time: entry.time });
    }
  }

  /** The task that last wrote a path, if an entry taken says so. */
  of(path: string): Writer | undefined {
    return this.#by.get(path)?.writer;
  }

  /** Whether some path has no writer yet. */
  missing(paths: Iterable<string>): boolean {
    for (const path of paths) if (!this.#by.has(path)) return true;
    return false;
  }
}

/**
 * A task's lineage from its decision and its entry (null when it has none: it ran and was
 * not stored), the files capped at `limits.lineageFiles`.
 */
export function taskLineage(
  decision: CacheDecision,
  entry: CacheEntry | null,
  writers: Writers,
  limits: Pick<Limits, "lineageFiles">,
): TaskLineage {
  const reads = entry ? Object.keys(entry.reads).sort() : [];
  const writes = entry ? Object.keys(entry.writes).sort() : [];
  return {
    index: decision.index,
    outcome: decision.outcome,
    why: decision.why,
    ...(entry ? { entryRun: entry.run_id } : {}),
    reads: reads.slice(0, limits.lineageFiles).map((path) => {
      const writer = writers.of(path);
      // A task's own write is not where its read came from.
      const own = writer && entry && writer.job === entry.job && writer.index === entry.index;
      return writer && !own ? { path, writer } : { path };
    }),
    readCount: reads.length,
    writes: writes.slice(0, limits.lineageFiles),
    writeCount: writes.length,
  };
}

/**
 * Reads the lineage of the picked tasks of the shown jobs. Writers are looked for in the
 * entries read for the shown tasks, then in those of the other tasks of the run, the jobs
 * the shown jobs wait for first, until every file shown has one or `lineageWriters` more
 * entries were read.
 */
export async function loadLineage(
  fs: DataFs,
  doc: StateDocument,
  shown: Set<string>,
  decisions: Record<string, CacheDecision[]>,
  limits: Limits,
): Promise<Map<string, TaskLineage[]>> {
  const picked: { job: string; decisions: CacheDecision[] }[] = [];
  let budget = limits.lineageTotal;
  for (const job of Object.keys(doc.jobs)) {
    if (budget <= 0) break;
    if (!shown.has(job) || !decisions[job]?.length) continue;
    const some = pickTasks(decisions[job], Math.min(limits.lineageTasks, budget));
    budget -= some.length;
    picked.push({ job, decisions: some });
  }
  const entries = new Map<string, CacheEntry | null>();
  const read = async (key: string) => {
    if (!entries.has(key)) entries.set(key, await readEntry(fs, key));
    return entries.get(key)!;
  };
  const keys = picked.flatMap((p) => p.decisions.flatMap((d) => d.key ? [d.key] : []));
  await mapLimited(keys, 16, read);

  const writers = new Writers(doc.pipeline_run_id);
  for (const entry of entries.values()) if (entry) writers.add(entry);
  const wanted = new Set<string>();
  for (const key of keys) {
    const entry = entries.get(key);
    if (entry) {
      Object.keys(entry.reads).sort().slice(0, limits.lineageFiles).forEach((p) => wanted.add(p));
    }
  }
  // The other tasks of the run: of the jobs the shown ones wait for first.
  const first = new Set(picked.flatMap((p) => doc.jobs[p.job]?.dependencies ?? []));
  const order = Object.keys(decisions).sort((a, b) =>
    Number(!first.has(a)) - Number(!first.has(b))
  );
  const others = order.flatMap((job) =>
    decisions[job].flatMap((d) => d.key && !entries.has(d.key) ? [d.key] : [])
  );
  let spent = 0;
  for (
    let at = 0;
    at < others.length && spent < limits.lineageWriters && writers.missing(wanted);
  ) {
    const batch = others.slice(at, at + Math.min(32, limits.lineageWriters - spent));
    at += batch.length;
    spent += batch.length;
    for (const entry of await mapLimited(batch, 16, read)) if (entry) writers.add(entry);
  }

  const out = new Map<string, TaskLineage[]>();
  for (const { job, decisions: some } of picked) {
    out.set(
      job,
      some.map((d) => taskLineage(d, d.key ? entries.get(d.key) ?? null : null, writers, limits)),
    );
  }
  return out;
}
