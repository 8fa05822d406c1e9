/**
 * The cache in front of the local executor's runners (`kt-deno run --cache`, `cache: true`
 * on a job): one more way a task may be answered, tried before it runs.
 *
 * Rules it keeps:
 * - A task's key is the SHA-256 of its function's code digest (`task/code_digest.ts`), its
 *   canonical args and the environment kt-deno sets for it minus the run's id.
 * - A task is skipped only when the entry of its key still holds: every path it read has
 *   its digest, every directory listing and glob its names, every path it wrote is there
 *   with its digest (`records/cache.ts`). A dynamic job that is skipped returns the jobs
 *   its entry kept.
 * - It is stored only when it succeeded, and only when everything it did went through
 *   the fs API as far as kt-deno can see: a command task, a failed task and a task that
 *   started a process (or, in Python, opened a data-dir file itself) are never stored.
 *
 * @module
 */
import {
  addTaskKeys,
  type CacheDecision,
  type CacheEntry,
  missReason,
  readDigestMemo,
  readEntry,
  readJobDecisions,
  readTaskKeys,
  staleness,
  type TaskKeys,
  writeDecisions,
  writeDigestMemo,
  writeEntry,
} from "../records/cache.ts";
import { dynamicOutputPath } from "../records/layout.ts";
import type { DataFs } from "../storage/data_fs.ts";
import { Digester, namesDigest, sha256Hex } from "../storage/digest.ts";
import type { Observed } from "../storage/fs_recorder.ts";
import { type CodeDigest, codeDigest } from "../task/code_digest.ts";
import { POD_ENV } from "../task/pod_env.ts";
import { TASK_ENV, taskEnv, type TaskRequest } from "../task/request.ts";
import type { BatchResult } from "./worker_pool.ts";

/**
 * The environment variables left out of a task's key: those that name the run, and those
 * that carry the args (which the key has by themselves).
 */
/** The name under which a run's image is in its tasks' keys (on Kubernetes). */
const IMAGE_KEY = "KT_IMAGE";

const NOT_KEYED = [
  POD_ENV.runId,
  TASK_ENV.runId,
  TASK_ENV.specPath,
  TASK_ENV.args,
  TASK_ENV.argsFile,
];

/** A local path made absolute and plain; a store's URL as it is. */
function absolutePath(path: string): string {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(path)) return path;
  const parts: string[] = [];
  const whole = path.startsWith("/") ? path : `${Deno.cwd()}/${path}`;
  for (const part of whole.split("/")) {
    if (part === "..") parts.pop();
    else if (part !== "" && part !== ".") parts.push(part);
  }
  return `/${parts.join("/")}`;
}

/** JSON with object keys sorted, so equal values give equal text. */
export function canonicalJson(value: unknown): string {
  return plainJson(value) ?? sortedJson(value);
}

/** The canonical JSON of any value: `JSON.stringify` with each object's entries sorted. */
function sortedJson(value: unknown): string {
  return JSON.stringify(
    value,
    (_key, v) =>
      v && typeof v === "object" && !Array.isArray(v)
        ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0))
        : v,
  );
}

/** A key that an object lists before its other keys, in numeric order, whatever its place. */
const INDEX_LIKE = /^(?:0|[1-9][0-9]*)$/;

/**
 * The canonical JSON of plain data (strings, numbers, booleans, null, arrays and plain
 * objects of them): the text {@linkcode sortedJson} gives, without its replacer's copies;
 * `undefined` for anything else (a `toJSON`, an `undefined`, a key like `"10"` that objects
 * order by number, a class instance...), which that one writes.
 */
function plainJson(value: unknown): string | undefined {
  switch (typeof value) {
    case "string":
    case "number":
    case "boolean":
      return JSON.stringify(value);
    case "object": {
      if (value === null) return "null";
      const proto = Object.getPrototypeOf(value);
      if (Array.isArray(value)) {
        if (proto !== Array.prototype) return undefined;
        let text = "[";
        for (let i = 0; i < value.length; i++) {
          const item = plainJson(value[i]);
          if (item === undefined) return undefined;
          text += i > 0 ? `,${item}` : item;
        }
        return `${text}]`;
      }
      if (proto !== Object.prototype && proto !== null) return undefined;
      const object = value as Record<string, unknown>;
      if (typeof object.toJSON === "function") return undefined;
      const keys = Object.keys(object).sort();
      let text = "{";
      for (let i = 0; i < keys.length; i++) {
        const key = keys[i];
        const item = INDEX_LIKE.test(key) ? undefined : plainJson(object[key]);
        if (item === undefined) return undefined;
        text += `${i > 0 ? "," : ""}${JSON.stringify(key)}:${item}`;
      }
      return `${text}}`;
    }
    default:
      return undefined;
  }
}

/** Where a {@linkcode TaskCache} runs. */
export interface CacheOptions {
  /** The worker image of a run on Kubernetes, which is part of each task's key. */
  image?: string;
  /**
   * A task pod's cache: it looks each task's entry up by its key (the controller keeps the
   * job's latest keys) and stores the entries of the tasks it ran, and writes nothing else
   * (no decisions, latest keys or digest memo, which the controller writes).
   */
  pod?: boolean;
  /**
   * A resumed run: a job's decisions are added to those its earlier attempts wrote (the
   * tasks recorded done there are not looked up again, and keep theirs).
   */
  resumed?: boolean;
}

/** A task a {@linkcode TaskCache.split} left to run elsewhere (a pod): its key, and why. */
export interface Miss {
  request: TaskRequest;
  key?: string;
  why: string;
}

/** The parts of a task's key. */
export interface KeyParts {
  key: string;
  code: CodeDigest;
  args_digest: string;
  env_digest: string;
}

/** The args given to the environment a task is keyed by (they are keyed by themselves). */
const NO_ARGS: Record<string, unknown> = Object.freeze({});

/**
 * A task's key and its parts: the SHA-256 of its function's code digest, of its canonical
 * args, and of its environment without the names in {@linkcode NOT_KEYED} (plus the
 * image's, on Kubernetes). Entries are found by it in every data dir: it never changes for
 * a task whose code, args and environment did not.
 */
export function taskKey(request: TaskRequest, code: CodeDigest, image?: string): KeyParts {
  const env = taskEnv({ ...request, args: NO_ARGS }, "");
  for (const name of NOT_KEYED) delete env[name];
  // A folder spelled another way is the same folder (`resume` has it absolute).
  for (const name of [POD_ENV.dataDir, POD_ENV.functionsDir]) env[name] = absolutePath(env[name]);
  if (image !== undefined) env[IMAGE_KEY] = image;
  const args_digest = sha256Hex(canonicalJson(request.args ?? {}));
  const env_digest = sha256Hex(canonicalJson(env));
  const key = sha256Hex(canonicalJson([code.digest, args_digest, env_digest]));
  return { key, code, args_digest, env_digest };
}

/** What the cache found for a task: a hit (its entry), or why it must run. */
type Verdict =
  | { parts: KeyParts; entry: CacheEntry; why?: undefined }
  | { parts?: KeyParts; why: string };

/**
 * How many of a job's next tasks are looked up ahead of the one asked for: a lookup waits
 * on a few reads and stats, and runs at once with the others instead of one at a time.
 */
const LOOK_AHEAD = 64;

/**
 * How many tasks' entries may be being stored at once, after their tasks ended: a task's
 * slot is free as soon as it ends, and its job ends once its entries are stored.
 */
const STORING = 64;

/**
 * Decides, before each task of a run, whether its cached result still holds; records
 * what the tasks that ran read and wrote.
 *
 * @example
 * ```ts ignore
 * const cache = await TaskCache.open(fs, runId, functionsDir);
 * const [result] = cache.answer([request], (asked) => pool.execBatch(asked, signal));
 * await result;
 * await cache.flush(request.job);
 * await cache.close();
 * ```
 */
export class TaskCache {
  readonly #codes = new Map<string, CodeDigest | Error>();
  readonly #decisions = new Map<string, Map<number, CacheDecision>>();
  /** The jobs with decisions made since theirs were last written. */
  readonly #unwritten = new Set<string>();
  readonly #keys = new Map<string, TaskKeys>();
  readonly #priorKeys = new Map<string, Promise<TaskKeys>>();
  /**
   * By job, the lookups started ahead (by index) and the index below which every task's
   * lookup was started.
   */
  readonly #verdicts = new Map<string, { next: number; verdicts: Map<number, Promise<Verdict>> }>();
  readonly #storing = new Set<Promise<void>>();

  private constructor(
    readonly fs: DataFs,
    readonly runId: string,
    readonly digester: Digester,
    readonly options: CacheOptions,
  ) {}

  /** The cache of a run over the data dir `fs` (a `DataFs` without rules or recorder). */
  static async open(fs: DataFs, runId: string, options: CacheOptions = {}): Promise<TaskCache> {
    return new TaskCache(fs, runId, new Digester(fs.driver, await readDigestMemo(fs)), options);
  }

  /** The code digest of a function, computed once per run. */
  #code(request: TaskRequest): CodeDigest | Error {
    const id = `${request.functionsDir}\0${request.function}`;
    let code = this.#codes.get(id);
    if (!code) {
      try {
        code = codeDigest(request.functionsDir, request.function!, request.found);
      } catch (error) {
        code = error as Error;
      }
      this.#codes.set(id, code);
    }
    return code;
  }

  #decide(job: string, decision: CacheDecision): void {
    let decisions = this.#decisions.get(job);
    if (!decisions) this.#decisions.set(job, decisions = new Map());
    this.#unwritten.add(job);
    decisions.set(decision.index, decision);
  }

  /** The decisions made so far for a job. */
  decisions(job: string): CacheDecision[] {
    return [...this.#decisions.get(job)?.values() ?? []];
  }

  /** Looks a task up; a store that fails meanwhile makes it a miss, said why. */
  async #lookup(request: TaskRequest): Promise<Verdict> {
    try {
      return await this.#find(request);
    } catch (error) {
      return { why: `not cached: looking it up failed: ${(error as Error).message}` };
    }
  }

  /** Finds a task's key, its entry, and whether the entry still holds. */
  async #find(request: TaskRequest): Promise<Verdict> {
    if (request.command || !request.function) return { why: "a command task is never cached" };
    const code = this.#code(request);
    if (code instanceof Error) return { why: `not cached: ${code.message}` };
    const parts = taskKey(request, code, this.options.image);
    // A pod reads the entry of its key; the controller decided before that it may be there.
    if (this.options.pod) {
      const entry = await readEntry(this.fs, parts.key);
      if (!entry) return { parts, why: "no entry" };
      const stale = await staleness(this.fs, this.digester, entry);
      return stale === null ? { parts, entry } : { parts, why: stale };
    }
    // A task no run stored has no latest key: its lookup reads nothing more.
    const latest = (await this.#latestKeys(request.job))[request.index];
    const entry = latest === undefined ? null : await readEntry(this.fs, parts.key);
    if (!entry) {
      if (latest === parts.key) return { parts, why: "its entry was removed" };
      const prior = latest === undefined ? null : await readEntry(this.fs, latest);
      return { parts, why: missReason(prior, { ...parts, code: parts.code.files }) };
    }
    const stale = await staleness(this.fs, this.digester, entry);
    return stale === null ? { parts, entry } : { parts, why: stale };
  }

  /** The verdict of a task, started now unless looked up ahead; and the next ones started. */
  #verdict(request: TaskRequest, requestAt?: (index: number) => TaskRequest | undefined) {
    let ahead = this.#verdicts.get(request.job);
    if (!ahead) this.#verdicts.set(request.job, ahead = { next: 0, verdicts: new Map() });
    const end = requestAt ? request.index + LOOK_AHEAD : 0;
    for (let index = Math.max(request.index + 1, ahead.next); index < end; index++) {
      const next = requestAt!(index);
      if (!next) break;
      ahead.verdicts.set(index, this.#lookup(next));
      ahead.next = index + 1;
    }
    const verdict = ahead.verdicts.get(request.index);
    if (!verdict) return this.#lookup(request);
    ahead.verdicts.delete(request.index);
    return verdict;
  }

  /**
   * Answers a batch of tasks: each from the cache when its entry holds, the others by
   * `exec` (in one call, as one batch; a request whose result may be stored asks its
   * runner to record its file operations), whose results are stored. `requestAt` gives
   * the requests of the job's other tasks, to look the next ones up ahead. A promise of
   * each request's result, in order, as the runner's own would be.
   */
  answer(
    requests: TaskRequest[],
    exec: (requests: TaskRequest[]) => Promise<BatchResult>[],
    requestAt?: (index: number) => TaskRequest | undefined,
  ): Promise<BatchResult>[] {
    const verdicts = requests.map((request) => this.#verdict(request, requestAt));
    const answers = (async () => {
      const known = await Promise.all(verdicts);
      const misses = new Map<number, number>();
      const asked: TaskRequest[] = [];
      known.forEach((verdict, i) => {
        if (verdict.why === undefined) return;
        misses.set(i, asked.length);
        asked.push(verdict.parts ? { ...requests[i], record: true } : requests[i]);
      });
      const results = asked.length ? exec(asked) : [];
      return requests.map((request, i) => {
        const at = misses.get(i);
        return at === undefined
          ? this.#hit(request, known[i] as Verdict & { why: undefined })
          : this.#ran(request, known[i], results[at]);
      });
    })();
    return requests.map(async (_, i) => await (await answers)[i]);
  }

  /**
   * Answers the tasks of a batch whose entries hold, as `answer` does, and returns the
   * others, for a driver that runs them elsewhere (the Kubernetes controller, whose pods
   * store their entries); {@linkcode ranElsewhere} decides them once they ended.
   */
  async split(requests: TaskRequest[]): Promise<Miss[]> {
    const verdicts = await Promise.all(requests.map((request) => this.#lookup(request)));
    const misses: Miss[] = [];
    for (const [i, verdict] of verdicts.entries()) {
      if (verdict.why === undefined) {
        await this.#hit(requests[i], verdict as Verdict & { why: undefined });
      } else misses.push({ request: requests[i], key: verdict.parts?.key, why: verdict.why });
    }
    return misses;
  }

  /**
   * Decides the tasks a {@linkcode split} left to run elsewhere, once they ended: a task
   * whose entry was stored under its key ran and was stored; another ran and was not.
   */
  async ranElsewhere(misses: Miss[]): Promise<void> {
    await Promise.all(misses.map(async ({ request, key, why }) => {
      const { job, index } = request;
      const entry = key === undefined ? null : await readEntry(this.fs, key);
      if (key !== undefined && entry?.run_id === this.runId) {
        this.#remember(job, index, key);
        this.#decide(job, { index, outcome: "ran", why, key });
      } else {
        const not = key === undefined ? "" : "; not stored (it failed, or was not observed)";
        this.#decide(job, { index, outcome: "ran", why: `${why}${not}` });
      }
    }));
  }

  /** A task answered from its entry (a dynamic job's jobs written back). */
  async #hit(
    request: TaskRequest,
    verdict: Verdict & { why: undefined },
  ): Promise<BatchResult> {
    const { job, index } = request;
    const started = Date.now();
    if (request.kind === "dynamic") {
      await this.fs.writeJson(dynamicOutputPath(this.runId, job), verdict.entry.returned ?? []);
    }
    this.#decide(job, { index, outcome: "cached", why: "its entry holds", key: verdict.parts.key });
    this.#remember(job, index, verdict.parts.key);
    return { ok: true, started, ended: Date.now() };
  }

  /** A task that ran: its result stored when it may be. */
  async #ran(
    request: TaskRequest,
    verdict: Verdict,
    pending: Promise<BatchResult>,
  ): Promise<BatchResult> {
    const { job, index } = request;
    const result = await pending;
    // Not run (its worker ended first): it is asked for again, and decided then.
    if (result.notRun) return result;
    const { parts, why } = verdict;
    if (!parts) {
      this.#decide(job, { index, outcome: "ran", why: why ?? "not cached" });
      return result;
    }
    if (!result.ok) {
      this.#decide(job, { index, outcome: "ran", why: `${why}; failed, not stored` });
      return result;
    }
    const observed = await this.#observed(result.observed);
    const { observed: _, ...answer } = result;
    if (!observed || observed.unobserved) {
      const not = observed?.unobserved ?? "its file operations were not recorded";
      this.#decide(job, { index, outcome: "ran", why: `${why}; not stored: ${not}` });
      return answer;
    }
    const storing = this.#store(request, parts, observed, why!);
    this.#storing.add(storing);
    storing.finally(() => this.#storing.delete(storing));
    if (this.#storing.size >= STORING) await Promise.race(this.#storing);
    return answer;
  }

  /** Digests what a task read and wrote and writes its entry; a failure is a decision. */
  async #store(request: TaskRequest, parts: KeyParts, seen: Observed, why: string) {
    const { job, index } = request;
    try {
      await writeEntry(this.fs, await this.#entry(request, parts, seen));
      this.#remember(job, index, parts.key);
      this.#decide(job, { index, outcome: "ran", why, key: parts.key });
    } catch (error) {
      const not = `not stored: ${(error as Error).message}`;
      this.#decide(job, { index, outcome: "ran", why: `${why}; ${not}` });
    }
  }

  async #observed(observed: Observed | string | undefined): Promise<Observed | undefined> {
    if (typeof observed !== "string") return observed;
    // A large record comes in a temporary file (see task/worker.ts).
    try {
      return JSON.parse(await Deno.readTextFile(observed));
    } finally {
      await Deno.remove(observed).catch(() => {});
    }
  }

  async #entry(request: TaskRequest, parts: KeyParts, seen: Observed): Promise<CacheEntry> {
    const written = new Set(seen.writes);
    const digests = async (paths: string[], digest: (path: string) => Promise<string>) =>
      Object.fromEntries(await Promise.all(paths.map(async (p) => [p, await digest(p)])));
    const entry: CacheEntry = {
      key: parts.key,
      run_id: request.runId,
      job: request.job,
      index: request.index,
      function: request.function!,
      time: new Date().toISOString(),
      code: parts.code.files,
      args_digest: parts.args_digest,
      env_digest: parts.env_digest,
      // A path the task wrote is its output, not an input it depends on.
      reads: await digests(
        seen.reads.filter((p) => !written.has(p)),
        (p) => this.digester.digest(p),
      ),
      lists: await digests(seen.lists, (p) => this.digester.listing(p)),
      globs: await digests(seen.globs, async (p) => namesDigest(await this.fs.glob(p))),
      writes: await digests(seen.writes, (p) => this.digester.digest(p)),
    };
    if (request.kind === "dynamic") {
      entry.returned = await this.fs.readJson(dynamicOutputPath(request.runId, request.job));
    }
    return entry;
  }

  /** The latest keys of a job's tasks when the run started using them. */
  #latestKeys(job: string): Promise<TaskKeys> {
    let keys = this.#priorKeys.get(job);
    if (!keys) this.#priorKeys.set(job, keys = readTaskKeys(this.fs, job));
    return keys;
  }

  #remember(job: string, index: number, key: string): void {
    let keys = this.#keys.get(job);
    if (!keys) this.#keys.set(job, keys = {});
    keys[index] = key;
  }

  /** Takes decisions made before (by an earlier controller of the run). */
  restore(job: string, decisions: CacheDecision[]): void {
    for (const decision of decisions) {
      this.#decide(job, decision);
      if (decision.outcome === "cached" && decision.key) {
        this.#remember(job, decision.index, decision.key);
      }
    }
  }

  /**
   * Waits for the entries being stored, then writes a job's decisions and latest keys;
   * `running`: tasks that a Job is about to run, written as `ran` with why they run.
   */
  async flush(job: string, running: Miss[] = []): Promise<void> {
    while (this.#storing.size) await Promise.all(this.#storing);
    if (this.options.pod) return;
    if (running.length) {
      const decided = this.decisions(job);
      const pending = running.map(({ request, key, why }): CacheDecision => ({
        index: request.index,
        outcome: "ran",
        why,
        ...(key ? { key } : {}),
      }));
      return await writeDecisions(this.fs, this.runId, job, [...decided, ...pending]);
    }
    const decisions = this.#decisions.get(job);
    // Written whole, and only again when a decision came since (`close` flushes every job).
    if (decisions && this.#unwritten.delete(job)) {
      const earlier = this.options.resumed
        ? (await readJobDecisions(this.fs, this.runId, job)).filter((d) => !decisions.has(d.index))
        : [];
      await writeDecisions(this.fs, this.runId, job, [...earlier, ...decisions.values()]);
    }
    const keys = this.#keys.get(job);
    if (keys) {
      this.#keys.delete(job);
      await addTaskKeys(this.fs, job, keys);
    }
  }

  /** Writes what remains: every job's records and the digest memo. */
  async close(): Promise<void> {
    for (const job of new Set([...this.#unwritten, ...this.#keys.keys()])) {
      await this.flush(job);
    }
    if (this.options.pod) return void await this.flush("");
    await writeDigestMemo(this.fs, this.digester.memo);
  }
}
