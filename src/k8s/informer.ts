/**
 * The list/watch loop, as client-go's informers run it: list the collection (in pages),
 * watch from the list's resourceVersion with bookmarks, resume the watch where it ended,
 * relist on 410 Gone, drop a watch that has been silent too long, and relist on a slow
 * period as a safety net. Handlers see every object that changed, including the changes
 * a relist finds, so a missed event only delays what a handler learns.
 *
 * The idle bound: the API server ends each watch after the `timeoutSeconds` we ask for
 * (20 s) and sends bookmarks on its own period (one minute); a healthy watch is therefore
 * never silent for longer than 20 s, and a watch silent for 30 s is taken as dead (a
 * dropped connection that TCP has not noticed) and replaced.
 *
 * @module
 */
import { sleep } from "../async/backoff.ts";
import { ApiError, isTransient, type KubeClient, retryDelay } from "./client.ts";

/** The metadata an informer needs of an object. */
export interface ObjectMeta {
  metadata: { name: string; resourceVersion?: string };
}

/** What the server asks each watch to last, in seconds. */
export const WATCH_SECONDS = 20;
/** A watch with no event or bookmark for this long is dropped and resumed. */
export const WATCH_IDLE_MS = 30_000;
/** A full relist this often, whatever the watch says. */
export const RELIST_MS = 5 * 60_000;
const PAGE = 500;

/** Settings of an {@linkcode Informer}. */
export interface InformerOptions<T extends ObjectMeta> {
  kube: KubeClient;
  /** The collection, e.g. `/apis/batch/v1/namespaces/default/jobs`. */
  path: string;
  labelSelector: string;
  /** A field selector too (`status.phase=Pending`). */
  fieldSelector?: string;
  /** Keeps only what is needed of each object (memory grows with the collection). */
  transform?: (object: T) => T;
  /** Called for each object added or changed, and with `undefined` when one is deleted. */
  onChange(name: string, object: T | undefined): void;
  /**
   * Which objects the informer holds a copy of, asked after `onChange` (default: all,
   * held before `onChange`). Changes of the others are reported all the same; only the
   * deletion of a held object can be found by a relist.
   */
  keep?: (object: T) => boolean;
  /** Receives log lines (why a watch ended, failures); the receiver adds timestamps. */
  log?: (line: string) => void;
  /** Called when listing or watching fails with a transient error, and when it works again. */
  onHealth?: (error: unknown | null) => void;
  idleMs?: number;
  relistMs?: number;
  watchSeconds?: number;
}

/**
 * Keeps a live copy of a labelled collection and reports its changes.
 *
 * @example
 * ```ts ignore
 * const jobs = new Informer<KubeJob>({
 *   kube,
 *   path: `/apis/batch/v1/namespaces/${ns}/jobs`,
 *   labelSelector: `kt-deno.dev/run-id=${runId}`,
 *   onChange: (name, job) => console.log(name, job?.status),
 * });
 * await jobs.start(); // resolves after the first list
 * jobs.get("load-ktpr0123abcd");
 * await jobs.stop();
 * ```
 */
export class Informer<T extends ObjectMeta> {
  readonly #objects = new Map<string, T>();
  readonly #stopped = new AbortController();
  #resourceVersion = "";
  #lastList = 0;
  #loop?: Promise<void>;
  /** Watches ended and why, by reason (`idle`, `closed`, `gone`, `error`), for tests. */
  readonly ended: Record<string, number> = {};

  constructor(readonly options: InformerOptions<T>) {}

  /** Lists once (retrying transient errors until it works), then watches in the background. */
  async start(): Promise<void> {
    await this.#relistUntilDone();
    this.#loop = this.#run();
  }

  /** The latest copy of an object, by name. */
  get(name: string): T | undefined {
    return this.#objects.get(name);
  }

  /** Every object known now. */
  values(): IterableIterator<T> {
    return this.#objects.values();
  }

  /** Stops watching. */
  async stop(): Promise<void> {
    this.#stopped.abort(new DOMException("stopped", "AbortError"));
    await this.#loop?.catch(() => {});
  }

  /** Holds (or drops) an object and tells the handler. */
  #changed(name: string, object: T | undefined): void {
    const keep = this.options.keep;
    if (object === undefined) this.#objects.delete(name);
    else if (!keep) this.#objects.set(name, object);
    this.options.onChange(name, object);
    if (object === undefined || !keep) return;
    if (keep(object)) this.#objects.set(name, object);
    else this.#objects.delete(name);
  }

  #query(): Record<string, string> {
    const query: Record<string, string> = { labelSelector: this.options.labelSelector };
    if (this.options.fieldSelector) query.fieldSelector = this.options.fieldSelector;
    return query;
  }

  #log(line: string): void {
    this.options.log?.(line);
  }

  get #what(): string {
    return `watch of ${this.options.path.split("/").at(-1)} (${this.options.labelSelector})`;
  }

  async #list(): Promise<void> {
    const seen = new Set<string>();
    let resourceVersion = "";
    let next: string | undefined;
    do {
      const page = await this.options.kube.request<
        { metadata: { resourceVersion: string; continue?: string }; items: T[] }
      >("GET", this.options.path, {
        query: { ...this.#query(), limit: PAGE, continue: next },
        signal: this.#stopped.signal,
      });
      resourceVersion = page.metadata.resourceVersion;
      next = page.metadata.continue || undefined;
      for (const item of page.items) {
        const object = this.options.transform?.(item) ?? item;
        const name = object.metadata.name;
        seen.add(name);
        const known = this.#objects.get(name);
        if (known?.metadata.resourceVersion !== object.metadata.resourceVersion) {
          this.#changed(name, object);
        }
      }
    } while (next);
    for (const name of [...this.#objects.keys()]) {
      if (!seen.has(name)) this.#changed(name, undefined);
    }
    this.#resourceVersion = resourceVersion;
    this.#lastList = Date.now();
  }

  async #relistUntilDone(): Promise<void> {
    for (let attempt = 0;; attempt++) {
      try {
        await this.#list();
        this.options.onHealth?.(null);
        return;
      } catch (error) {
        if (this.#stopped.signal.aborted) throw error;
        if (!isTransient(error) && !(error instanceof ApiError && error.status === 410)) {
          throw error;
        }
        this.options.onHealth?.(error);
        this.#log(`list for ${this.#what} failed (${(error as Error).message}); retrying`);
        await sleep(retryDelay(attempt, this.options.kube.limits), this.#stopped.signal);
      }
    }
  }

  /** One watch, until it ends; returns why it ended. */
  async #watchOnce(): Promise<"idle" | "closed" | "relist"> {
    const idleMs = this.options.idleMs ?? WATCH_IDLE_MS;
    const relistMs = this.options.relistMs ?? RELIST_MS;
    const abort = new AbortController();
    const stop = () => abort.abort(this.#stopped.signal.reason);
    this.#stopped.signal.addEventListener("abort", stop, { once: true });
    let idle = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        idle = true;
        abort.abort(new DOMException("idle", "AbortError"));
      }, idleMs);
    };
    try {
      arm();
      const events = this.options.kube.watch<T>(this.options.path, {
        ...this.#query(),
        resourceVersion: this.#resourceVersion,
        timeoutSeconds: this.options.watchSeconds ?? WATCH_SECONDS,
      }, abort.signal);
      for await (const event of events) {
        arm();
        const object = this.options.transform?.(event.object) ?? event.object;
        if (object.metadata.resourceVersion) {
          this.#resourceVersion = object.metadata.resourceVersion;
        }
        if (event.type !== "BOOKMARK") {
          this.#changed(object.metadata.name, event.type === "DELETED" ? undefined : object);
        }
        if (Date.now() - this.#lastList > relistMs) return "relist";
      }
      return "closed";
    } catch (error) {
      if (idle) return "idle";
      throw error;
    } finally {
      clearTimeout(timer);
      this.#stopped.signal.removeEventListener("abort", stop);
    }
  }

  async #run(): Promise<void> {
    const signal = this.#stopped.signal;
    let failures = 0;
    while (!signal.aborted) {
      let relist = Date.now() - this.#lastList > (this.options.relistMs ?? RELIST_MS);
      const started = Date.now();
      try {
        const why = await this.#watchOnce();
        this.ended[why] = (this.ended[why] ?? 0) + 1;
        // A server that ends every watch at once must not make this loop spin.
        if (why === "closed" && Date.now() - started < 1000) {
          await sleep(retryDelay(failures++, this.options.kube.limits), signal).catch(() => {});
        } else if (why !== "idle") {
          failures = 0;
        }
        if (why === "idle") {
          this.#log(
            `${this.#what} ended: no event or bookmark for ${
              this.options.idleMs ?? WATCH_IDLE_MS
            } ms; resuming`,
          );
        } else if (why === "relist") {
          this.#log(`${this.#what} ended: periodic relist`);
          relist = true;
        }
      } catch (error) {
        if (signal.aborted) return;
        const gone = error instanceof ApiError && error.status === 410;
        const why = gone ? "gone" : "error";
        this.ended[why] = (this.ended[why] ?? 0) + 1;
        relist = true;
        if (gone) this.#log(`${this.#what} ended: resourceVersion expired (410 Gone); relisting`);
        else {
          this.options.onHealth?.(error);
          this.#log(`${this.#what} ended: ${(error as Error).message}; relisting`);
          await sleep(retryDelay(failures++, this.options.kube.limits), signal).catch(() => {});
        }
      }
      if (relist && !signal.aborted) await this.#relistUntilDone().catch(() => {});
    }
  }
}
