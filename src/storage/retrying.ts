/**
 * Retries of a data dir's transient errors: an object store that answers 5xx, throttles,
 * resets or refuses connections, or times out is tried again with backoff for a bounded
 * time (`KT_STORAGE_RETRY_SECONDS`, default 60) before the call fails. Every driver
 * {@linkcode openStorage} returns is wrapped, so local runs, the controller and the pods
 * all ride out the same outages.
 *
 * @module
 */
import { type Backoff, retry } from "../async/backoff.ts";
import type { EntryInfo, StorageDriver } from "./driver.ts";

/** The environment variable that bounds how long a storage call retries, in seconds. */
export const STORAGE_RETRY_ENV = "KT_STORAGE_RETRY_SECONDS";

/** The default bound of a storage call's retries, in seconds. */
export const DEFAULT_STORAGE_RETRY_SECONDS = 60;

/**
 * The retry bound of this process: `KT_STORAGE_RETRY_SECONDS`, or 60. Throws when the
 * variable is set to something that is not a number of seconds.
 */
export function storageRetrySeconds(): number {
  const text = Deno.env.get(STORAGE_RETRY_ENV);
  if (text === undefined || text === "") return DEFAULT_STORAGE_RETRY_SECONDS;
  const seconds = Number(text);
  if (!Number.isFinite(seconds) || seconds < 0) {
    throw new Error(
      `${STORAGE_RETRY_ENV} must be a number of seconds (0 or more), got ${JSON.stringify(text)}`,
    );
  }
  return seconds;
}

/** True for an error a driver marked as worth retrying (`transient: true`). */
export function isTransient(error: unknown): boolean {
  return (error as { transient?: unknown })?.transient === true;
}

/** Raised when a data dir stayed unreachable for the whole retry bound. */
export class StorageUnavailableError extends Error {
  constructor(root: string, seconds: number, cause: Error) {
    super(`data dir ${root} unreachable for ${seconds} s, gave up: ${cause.message}`, { cause });
    this.name = "StorageUnavailableError";
  }
}

/**
 * True for an error of the data dir itself (unreachable past the bound, or refused by the
 * store), as opposed to an error of the executor or of one task.
 */
export function isDataDirFailure(error: unknown): boolean {
  const name = (error as Error)?.name;
  return error instanceof StorageUnavailableError || name === "S3Error" ||
    name === "ObjectStoreError";
}

/** Settings of a {@linkcode RetryingDriver}. */
export interface RetryOptions {
  /** How long one call may keep retrying, in seconds (default: {@linkcode storageRetrySeconds}). */
  seconds?: number;
  /** Receives one line when an outage starts and one when it ends (default: stderr, timestamped). */
  log?: (line: string) => void;
}

const BACKOFF: Backoff = { firstMs: 200, maxMs: 5_000 };

/**
 * A {@linkcode StorageDriver} that retries another's transient errors with exponential
 * backoff (200 ms doubling to 5 s, jittered) until a deadline measured from the call's
 * start, so the bound holds whatever the store's SDK retries inside one attempt.
 * `writeStream` is not retried (its stream is consumed); `check` is not either, so a
 * store that cannot be used at all is reported at once.
 *
 * @example
 * ```ts
 * import { LocalDriver } from "./local.ts";
 * import { RetryingDriver } from "./retrying.ts";
 * const store = new RetryingDriver(new LocalDriver(await Deno.makeTempDir()), { seconds: 30 });
 * await store.write("a.txt", new TextEncoder().encode("hi"));
 * ```
 */
export class RetryingDriver implements StorageDriver {
  readonly seconds: number;
  readonly #log: (line: string) => void;
  #downSince: number | null = null;

  constructor(readonly inner: StorageDriver, options: RetryOptions = {}) {
    this.seconds = options.seconds ?? storageRetrySeconds();
    this.#log = options.log ?? ((line) => console.error(`${new Date().toISOString()} ${line}`));
  }

  get root(): string {
    return this.inner.root;
  }

  async #retry<T>(call: () => Promise<T>): Promise<T> {
    const value = await retry(call, {
      backoff: BACKOFF,
      retryForMs: this.seconds * 1000,
      isTransient,
      onRetry: (error) => {
        if (this.#downSince !== null) return;
        this.#downSince = Date.now();
        this.#log(
          `kt-deno: data dir ${this.root} unreachable, retrying for up to ${this.seconds} s: ${
            (error as Error).message
          }`,
        );
      },
      giveUp: (error) => new StorageUnavailableError(this.root, this.seconds, error as Error),
    });
    if (this.#downSince !== null) {
      const seconds = ((Date.now() - this.#downSince) / 1000).toFixed(1);
      this.#downSince = null;
      this.#log(`kt-deno: data dir ${this.root} reachable again after ${seconds} s`);
    }
    return value;
  }

  read(path: string): Promise<Uint8Array> {
    return this.#retry(() => this.inner.read(path));
  }
  write(path: string, data: Uint8Array): Promise<void> {
    return this.#retry(() => this.inner.write(path, data));
  }
  append(path: string, data: Uint8Array): Promise<void> {
    return this.#retry(() => this.inner.append(path, data));
  }
  readRange(path: string, offset: number, length: number): Promise<Uint8Array> {
    return this.#retry(() => this.inner.readRange(path, offset, length));
  }
  readStream(path: string): Promise<ReadableStream<Uint8Array>> {
    return this.#retry(() => this.inner.readStream(path));
  }
  writeStream(path: string, stream: ReadableStream<Uint8Array>): Promise<void> {
    return this.inner.writeStream(path, stream);
  }
  stat(path: string): Promise<EntryInfo | null> {
    return this.#retry(() => this.inner.stat(path));
  }
  list(path: string): Promise<string[]> {
    return this.#retry(() => this.inner.list(path));
  }
  walk(path: string): Promise<EntryInfo[]> {
    return this.#retry(() => this.inner.walk(path));
  }
  mkdir(path: string): Promise<void> {
    return this.#retry(() => this.inner.mkdir(path));
  }
  remove(path: string): Promise<void> {
    return this.#retry(() => this.inner.remove(path));
  }
  rmdir(path: string): Promise<void> {
    return this.#retry(() => this.inner.rmdir(path));
  }
  check(): Promise<void> {
    return this.inner.check();
  }
  where(path: string): Promise<string> {
    return this.inner.where ? this.#retry(() => this.inner.where!(path)) : Promise.resolve(path);
  }
}
