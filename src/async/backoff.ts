/**
 * Retrying with exponential backoff and jitter, for a bounded time: the one retry loop of
 * the API client, the data dir and the controller's restarts. What is worth retrying is
 * the caller's to say (each transport has its own `isTransient`).
 *
 * @module
 */

/** Exponential backoff: the first delay, doubled at each retry up to the longest. */
export interface Backoff {
  firstMs: number;
  maxMs: number;
}

/**
 * The delay before retry number `attempt` (0-based): the backoff's ceiling for that
 * attempt, jittered between half of it and all of it, so that many clients that failed
 * together do not come back together.
 *
 * @example
 * ```ts
 * import { backoffDelay } from "./backoff.ts";
 * const delay = backoffDelay(3, { firstMs: 100, maxMs: 5000 }); // 400 to 800
 * ```
 */
export function backoffDelay(attempt: number, backoff: Backoff): number {
  const ceiling = Math.min(backoff.maxMs, backoff.firstMs * 2 ** attempt);
  return ceiling / 2 + Math.random() * ceiling / 2;
}

/** Resolves after `ms`, or rejects with the signal's reason when it aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", stop);
      resolve();
    }, ms);
    const stop = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", stop, { once: true });
  });
}

/** Settings of {@linkcode retry}. */
export interface RetryOptions {
  backoff: Backoff;
  /** How long, from the first try, transient errors are retried. */
  retryForMs: number;
  /** Whether an error is worth another try. */
  isTransient: (error: unknown) => boolean;
  /** The least wait an error asks for (a `Retry-After`), in ms. */
  askedMs?: (error: unknown) => number;
  /** Told before each wait. */
  onRetry?: (error: unknown, delayMs: number) => void;
  /** What to throw for the last transient error when the time is spent (default: it). */
  giveUp?: (error: unknown) => unknown;
  signal?: AbortSignal;
}

/**
 * Runs `call` until it succeeds, throws an error that is not transient, or the retry time
 * is spent; the last try is made at the deadline.
 *
 * @example
 * ```ts
 * import { retry } from "./backoff.ts";
 * let tries = 0;
 * const value = await retry(async () => {
 *   if (++tries < 3) throw new Error("busy");
 *   return tries;
 * }, { backoff: { firstMs: 1, maxMs: 4 }, retryForMs: 1000, isTransient: () => true });
 * value; // 3
 * ```
 */
export async function retry<T>(call: () => Promise<T>, options: RetryOptions): Promise<T> {
  const deadline = Date.now() + options.retryForMs;
  for (let attempt = 0;; attempt++) {
    try {
      return await call();
    } catch (error) {
      if (options.signal?.aborted || !options.isTransient(error)) throw error;
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw options.giveUp ? options.giveUp(error) : error;
      const wanted = Math.max(
        backoffDelay(attempt, options.backoff),
        options.askedMs?.(error) ?? 0,
      );
      const delay = Math.min(remaining, wanted);
      options.onRetry?.(error, delay);
      await sleep(delay, options.signal);
    }
  }
}
