/**
 * The memory cap of local tasks: what a task really holds, counted as a pod's limit counts
 * it, never its address space.
 *
 * What is counted: the resident private memory of the task's worker process and of every
 * process below it (`resident - shared` pages of `/proc/PID/statm`, that is anonymous
 * memory: the heap, thread stacks as far as they are touched, buffers of pyarrow and
 * numpy). Pages mapped from files (the interpreter, `deno` itself, shared libraries) are
 * left out: the kernel can drop and read them again, so a pod's cgroup reclaims them before
 * it kills anything. Address space that is reserved but never touched (allocators' arenas,
 * 8 MiB thread stacks) costs nothing and counts for nothing.
 *
 * Why polling `/proc` and not a cgroup: a cgroup v2 of our own needs a delegated, writable
 * hierarchy, which most machines and CI runners do not give a user process (this one has
 * cgroup v1 only). `statm` costs one small read, with no walk of the process's mappings
 * (`smaps_rollup` walks them all: its cost grows with the task's memory). One timer serves
 * every task of the process: {@linkcode MemoryWatch.watch} adds a task to a map, the timer
 * reads the busy workers every {@linkcode POLL_MS} ms (one `statm` each, about 20 µs; the
 * processes below a worker are looked for every fourth tick), and a task itself costs two
 * map operations, however short it is.
 *
 * What differs from a pod: a task over its limit is seen at the next tick, so a burst
 * shorter than {@linkcode POLL_MS} ms may pass, and a program a task starts counts from the
 * first walk that finds it (within 200 ms); a task that holds memory is killed within a tick
 * of crossing the line.
 *
 * @module
 */
import { parseQuantity } from "../spec/quantity.ts";

/** How often the busy workers' memory is read, in milliseconds. */
export const POLL_MS = 50;

/** Every how many reads the processes below a worker are looked for again. */
const TREE_EVERY = 4;

const PAGE = 4096;

/**
 * A job's `memory` in bytes, rounded up to a whole byte as Kubernetes rounds (`1m` is one
 * byte), or `null` for no cap (no memory, or an empty one as in a packed pod).
 *
 * @example
 * ```ts
 * import { memoryLimit } from "./memory_watch.ts";
 * memoryLimit("1.1Gi"); // 1181116007
 * memoryLimit("1m"); // 1
 * memoryLimit(undefined); // null
 * ```
 */
export function memoryLimit(memory: string | undefined): number | null {
  if (!memory) return null;
  let limit = limits.get(memory);
  if (limit === undefined) {
    const value = parseQuantity(memory);
    limit = value !== null && value > 0 ? Math.ceil(value) : null;
    if (limits.size < 1000) limits.set(memory, limit);
  }
  return limit;
}

/** The limits parsed so far: a job's memory is one text for all its tasks. */
const limits = new Map<string, number | null>();

function read(path: string): string | null {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return null;
  }
}

/** A process's resident private memory in bytes (0 when it is gone). */
function privateBytes(pid: number): number {
  const statm = read(`/proc/${pid}/statm`);
  if (statm === null) return 0;
  const [, resident, shared] = statm.split(" ");
  return Math.max(0, Number(resident) - Number(shared)) * PAGE;
}

/** The children of a process, started from any of its threads. */
function childrenOf(pid: number): number[] {
  const found: number[] = [];
  let threads: Iterable<Deno.DirEntry>;
  try {
    threads = Deno.readDirSync(`/proc/${pid}/task`);
  } catch {
    return found;
  }
  for (const thread of threads) {
    const list = read(`/proc/${pid}/task/${thread.name}/children`);
    if (list) { for (const child of list.split(" ")) if (child.trim()) found.push(Number(child)); }
  }
  return found;
}

/**
 * A process and every process below it (children of any thread, their children, ...). A
 * child that left the session is still below its parent; one whose parent exited is not
 * (it is the task's worker's business to reap those: the Python worker is their subreaper).
 *
 * @example
 * ```ts
 * import { processTree } from "./memory_watch.ts";
 * processTree(Deno.pid).includes(Deno.pid); // true
 * ```
 */
export function processTree(root: number): number[] {
  const tree = [root];
  for (let i = 0; i < tree.length; i++) tree.push(...childrenOf(tree[i]));
  return tree;
}

/**
 * The resident private memory of a process and of everything below it, in bytes.
 *
 * @example
 * ```ts
 * import { treeMemory } from "./memory_watch.ts";
 * treeMemory(Deno.pid) > 0; // true on Linux
 * ```
 */
export function treeMemory(root: number): number {
  let total = 0;
  for (const pid of processTree(root)) total += privateBytes(pid);
  return total;
}

interface Watched {
  pid: number;
  limit: number;
  over: (bytes: number) => void;
  /** The worker and the processes below it, as last looked for. */
  tree: number[];
}

/**
 * Watches the memory of busy workers with one timer for all of them. A worker over its
 * task's limit is reported once, then no longer watched: the caller kills it and fails
 * the task with `out of memory (limit …)`.
 *
 * @example
 * ```ts ignore
 * const stop = memoryWatch.watch(worker.pid, memoryLimit("256Mi")!, () => worker.kill());
 * await task;
 * stop();
 * ```
 */
export class MemoryWatch {
  readonly #watched = new Map<number, Watched>();
  #nextKey = 0;
  #ticks = 0;
  #timer?: ReturnType<typeof setInterval>;
  readonly #supported = Deno.build.os === "linux";

  /** Watches `pid` and what it starts until the returned function is called. */
  watch(pid: number, limit: number, over: (bytes: number) => void): () => void {
    if (!this.#supported) return () => {};
    const key = this.#nextKey++;
    this.#watched.set(key, { pid, limit, over, tree: [pid] });
    if (this.#timer === undefined) {
      const timer = setInterval(() => this.#tick(), POLL_MS);
      Deno.unrefTimer(timer as unknown as number);
      this.#timer = timer;
    }
    return () => {
      this.#watched.delete(key);
      // The timer stays while the process runs tasks; it stops once a tick finds none.
    };
  }

  #tick(): void {
    if (this.#watched.size === 0) {
      clearInterval(this.#timer);
      this.#timer = undefined;
      return;
    }
    // Looking for children costs a read per thread of each process: every few ticks only.
    const walk = this.#ticks++ % TREE_EVERY === 0;
    for (const [key, watched] of this.#watched) {
      if (walk) watched.tree = processTree(watched.pid);
      let bytes = 0;
      for (const pid of watched.tree) bytes += privateBytes(pid);
      if (bytes > watched.limit) {
        this.#watched.delete(key);
        watched.over(bytes);
      }
    }
  }
}

/** The process's one memory watch, shared by its worker pools. */
export const memoryWatch: MemoryWatch = new MemoryWatch();

/**
 * Kills a process and everything below it with SIGKILL, the ones that left its process
 * group or session included.
 */
export function killTree(root: number): void {
  for (const pid of processTree(root)) {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch {
      // gone already
    }
  }
}
