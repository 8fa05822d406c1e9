/**
 * The incremental runs' cache records: one entry per task key (the function's code, the
 * task's args and environment), holding what the task read and wrote with their digests;
 * the latest key of each task (by job and index), and each run's decisions (cached or
 * ran, and why). Entries are whole objects written at once (a temporary file and a rename
 * locally, one PUT on an object store), so concurrent writers never leave half of one;
 * the last writer of a key wins, and either entry is a true record of a run.
 *
 * @module
 */
import type { DataFs } from "../storage/data_fs.ts";
import { ABSENT, type Digester, DigestMemo, namesDigest } from "../storage/digest.ts";
import {
  cacheDecisionsDir,
  cacheDecisionsPath,
  cacheEntriesDir,
  cacheEntryPath,
  cacheTasksDir,
  cacheTasksPath,
  digestMemoPath,
  METADATA_ROOT,
  parsedSpecPath,
  parsedSpecsDir,
  statePath,
} from "./layout.ts";
import { isRunId } from "./run_id.ts";
import type { ParsedSpecs } from "../spec/load.ts";

/** One task's cache entry. */
export interface CacheEntry {
  key: string;
  run_id: string;
  job: string;
  index: number;
  function: string;
  /** When the task ended (ISO 8601). */
  time: string;
  /** The function's files (relative to the functions folder) and their SHA-256. */
  code: Record<string, string>;
  args_digest: string;
  env_digest: string;
  /** Paths read or looked at, with their digests when the task ended. */
  reads: Record<string, string>;
  /** Directories listed, with the digests of their names. */
  lists: Record<string, string>;
  /** Glob patterns, with the digests of their matches. */
  globs: Record<string, string>;
  /** Paths written or removed, with their digests when the task ended. */
  writes: Record<string, string>;
  /** A dynamic job's returned jobs. */
  returned?: unknown;
}

/** What happened to one task in a run with the cache. */
export interface CacheDecision {
  index: number;
  /** `cached`: skipped, its entry held; `ran`: run (and stored when it could be). */
  outcome: "cached" | "ran";
  why: string;
  key?: string;
}

/** The latest key of each task of a job, by index. */
export type TaskKeys = Record<string, string>;

/** Reads an entry, or `null` when there is none (or it cannot be parsed). */
export async function readEntry(fs: DataFs, key: string): Promise<CacheEntry | null> {
  return await fs.readJson<CacheEntry>(cacheEntryPath(key)).catch(() => null);
}

/** Writes an entry whole. */
export async function writeEntry(fs: DataFs, entry: CacheEntry): Promise<void> {
  await fs.write(cacheEntryPath(entry.key), JSON.stringify(entry));
}

/** The latest keys of a job's tasks (empty when none). */
export async function readTaskKeys(fs: DataFs, job: string): Promise<TaskKeys> {
  return await fs.readJson<TaskKeys>(cacheTasksPath(job)).catch(() => ({}));
}

/**
 * Adds keys to a job's latest keys. Read, merged and written again (unless it holds them
 * all already): two runs of one job at once may lose each other's keys here, which only makes `why` and `lineage` say less.
 */
export async function addTaskKeys(fs: DataFs, job: string, keys: TaskKeys): Promise<void> {
  if (Object.keys(keys).length === 0) return;
  const known = await readTaskKeys(fs, job);
  // A rerun whose tasks kept their keys (every one a hit) writes nothing.
  if (Object.keys(keys).every((index) => known[index] === keys[index])) return;
  await fs.write(cacheTasksPath(job), JSON.stringify({ ...known, ...keys }));
}

/** The digest memo of the data dir (empty when there is none). */
export async function readDigestMemo(fs: DataFs): Promise<DigestMemo> {
  return DigestMemo.parse(await fs.read(digestMemoPath()).catch(() => null));
}

/** Writes the digest memo, when it learned something. */
export async function writeDigestMemo(fs: DataFs, memo: DigestMemo): Promise<void> {
  if (memo.changed) await fs.write(digestMemoPath(), memo.serialize());
}

/**
 * The parsed YAML specs of the data dir (`spec/load.ts`): read as asked; one parsed in this
 * run is written by {@linkcode ParsedSpecs.set}'s caller calling `write` (once the data dir
 * was checked). A spec's file is written whole and depends only on its text's digest, so
 * runs that write one at once write the same.
 */
export function parsedSpecs(fs: DataFs): ParsedSpecs & { write(): Promise<void> } {
  const pending = new Map<string, string>();
  return {
    get: async (digest) => await fs.readJson(parsedSpecPath(digest)).catch(() => undefined),
    set: (digest, json) => void pending.set(digest, json),
    write: async () => {
      for (const [digest, json] of pending) await fs.write(parsedSpecPath(digest), json);
      pending.clear();
    },
  };
}

/** Writes a job's decisions in a run. */
export async function writeDecisions(
  fs: DataFs,
  runId: string,
  job: string,
  decisions: CacheDecision[],
): Promise<void> {
  const sorted = [...decisions].sort((a, b) => a.index - b.index);
  await fs.writeJson(cacheDecisionsPath(runId, job), sorted);
}

/** A job's decisions in a run (empty when there are none). */
export async function readJobDecisions(
  fs: DataFs,
  runId: string,
  job: string,
): Promise<CacheDecision[]> {
  return await fs.readJson<CacheDecision[]>(cacheDecisionsPath(runId, job)).catch(() => []);
}

/** A run's decisions by job (empty when the run did not use the cache). */
export async function readDecisions(
  fs: DataFs,
  runId: string,
): Promise<Record<string, CacheDecision[]>> {
  const names = await fs.listdir(cacheDecisionsDir(runId)).catch(() => [] as string[]);
  const out: Record<string, CacheDecision[]> = {};
  for (const name of names.filter((n) => n.endsWith(".json"))) {
    out[name.slice(0, -5)] = await fs.readJson<CacheDecision[]>(
      `${cacheDecisionsDir(runId)}/${name}`,
    ).catch(() => []);
  }
  return out;
}

function short(digest: string): string {
  return digest === ABSENT ? "absent" : digest.replace(/^([\w-]+:)?(.{12}).*$/, "$1$2");
}

/**
 * Why an entry no longer holds (an input changed, an output is missing or changed), or
 * `null` when it still does: every recorded read, listing and glob has its digest and
 * every write is in place with its digest. Reads are checked first, then writes.
 */
export async function staleness(
  fs: DataFs,
  digester: Digester,
  entry: CacheEntry,
): Promise<string | null> {
  const check = async (
    recorded: Record<string, string>,
    now: (path: string) => Promise<string>,
    say: (path: string, was: string, is: string) => string,
  ) => {
    const paths = Object.keys(recorded);
    if (paths.length === 0) return null;
    const found = await Promise.all(paths.map(now));
    const at = found.findIndex((digest, i) => digest !== recorded[paths[i]]);
    return at < 0 ? null : say(paths[at], recorded[paths[at]], found[at]);
  };
  const changed = (what: string) => (path: string, was: string, is: string) =>
    is === ABSENT
      ? `${what} ${path} was removed`
      : was === ABSENT
      ? `${what} ${path} appeared`
      : `${what} ${path} changed (${short(was)} -> ${short(is)})`;
  return await check(entry.reads, (p) => digester.digest(p), changed("input")) ??
    await check(entry.lists, (p) => digester.listing(p), changed("listing of")) ??
    await check(
      entry.globs,
      async (p) => namesDigest(await fs.glob(p)),
      changed("matches of glob"),
    ) ??
    await check(
      entry.writes,
      (p) => digester.digest(p),
      (path, was, is) =>
        is === ABSENT
          ? `output ${path} is missing`
          : was === ABSENT
          ? `${path}, which the task removed, is back`
          : `output ${path} changed since it was written (${short(was)} -> ${short(is)})`,
    );
}

/**
 * Why a task has no entry for its key, told from its previous entry (`prior`, the one its
 * latest key names): which code file changed, or its args, or its environment.
 */
export function missReason(
  prior: CacheEntry | null,
  now: Pick<CacheEntry, "code" | "args_digest" | "env_digest">,
): string {
  if (!prior) return "no entry (first run with the cache)";
  const files = new Set([...Object.keys(prior.code), ...Object.keys(now.code)]);
  const code = [...files].filter((file) => prior.code[file] !== now.code[file]).sort();
  if (code.length) {
    const how = code.map((file) =>
      !(file in prior.code)
        ? `${file} added`
        : !(file in now.code)
        ? `${file} no longer imported`
        : file
    );
    return `code changed: ${how.join(", ")}`;
  }
  if (prior.args_digest !== now.args_digest) return "args changed";
  if (prior.env_digest !== now.env_digest) return "environment changed";
  return "no entry for its key";
}

/** Every current entry: those that a job's latest keys name. */
export async function currentEntries(fs: DataFs): Promise<CacheEntry[]> {
  const jobs = await fs.listdir(cacheTasksDir()).catch(() => [] as string[]);
  const keys = new Set<string>();
  for (const name of jobs.filter((n) => n.endsWith(".json"))) {
    for (const key of Object.values(await readTaskKeys(fs, name.slice(0, -5)))) keys.add(key);
  }
  const entries = await Promise.all([...keys].map((key) => readEntry(fs, key)));
  return entries.filter((entry): entry is CacheEntry => entry !== null);
}

/** A file's lineage: the task that last wrote it (and what that task read), and its readers. */
export interface Lineage {
  path: string;
  writer:
    | Pick<CacheEntry, "run_id" | "job" | "index" | "function" | "time"> & {
      digest: string;
      reads: Record<string, string>;
    }
    | null;
  readers: Pick<CacheEntry, "run_id" | "job" | "index" | "function" | "time">[];
}

/**
 * The lineage of a path, from the current entries (reads every one: as slow as the cache
 * is large).
 */
export async function lineage(fs: DataFs, path: string): Promise<Lineage> {
  const entries = await currentEntries(fs);
  const who = (e: CacheEntry) => ({
    run_id: e.run_id,
    job: e.job,
    index: e.index,
    function: e.function,
    time: e.time,
  });
  const writers = entries.filter((e) => path in e.writes).sort((a, b) =>
    b.time.localeCompare(a.time)
  );
  const last = writers[0];
  return {
    path,
    writer: last ? { ...who(last), digest: last.writes[path], reads: last.reads } : null,
    readers: entries.filter((e) => path in e.reads).map(who).sort((a, b) =>
      a.job.localeCompare(b.job) || a.index - b.index
    ),
  };
}

/**
 * Removes the entries that none of the `keep` newest runs used (cached or stored), the
 * parsed specs, and the digest memo (the next run hashes again what it digests, and
 * remembers only that);
 * returns how many entries went.
 */
export async function pruneCache(fs: DataFs, keep: number): Promise<{ removed: number }> {
  const ids = (await fs.listdir(METADATA_ROOT).catch(() => [] as string[])).filter(isRunId);
  const created = await Promise.all(ids.map(async (id) => {
    const state = await fs.readJson<{ created_at?: string }>(statePath(id)).catch(() => null);
    return { id, at: state?.created_at ?? "" };
  }));
  created.sort((a, b) => b.at.localeCompare(a.at));
  const used = new Set<string>();
  for (const { id } of created.slice(0, keep)) {
    for (const decisions of Object.values(await readDecisions(fs, id))) {
      for (const decision of decisions) if (decision.key) used.add(decision.key);
    }
  }
  let removed = 0;
  const entries = await fs.driver.walk(cacheEntriesDir()).catch(() => []);
  for (const entry of entries) {
    const key = /([0-9a-f]{64})\.json$/.exec(entry.path)?.[1];
    if (entry.type !== "file" || !key || used.has(key)) continue;
    await fs.remove(entry.path);
    removed++;
  }
  await fs.remove(digestMemoPath()).catch(() => {});
  await fs.rmdir(parsedSpecsDir()).catch(() => {});
  return { removed };
}

/**
 * A run's cache outcome per job, one line a job (`load: 3 cached, 1 ran`), or `""` when
 * the run did not use the cache.
 *
 * @example
 * ```ts
 * import { cacheSummary } from "./cache.ts";
 * cacheSummary({ load: [{ index: 0, outcome: "cached", why: "its entry holds" }] });
 * // "cache: load: 1 cached, 0 ran"
 * ```
 */
export function cacheSummary(decisions: Record<string, CacheDecision[]>): string {
  const lines = Object.entries(decisions).map(([job, list]) => {
    const cached = list.filter((d) => d.outcome === "cached").length;
    return `${job}: ${cached} cached, ${list.length - cached} ran`;
  });
  return lines.length ? `cache: ${lines.join("; ")}` : "";
}
