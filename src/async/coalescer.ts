/**
 * Coalescing requests for a task that must not run more often than its gap allows: the
 * state writer's writes, the follower's reads of the state document.
 *
 * @module
 */

/**
 * Runs a task when asked, one run at a time and at most once per gap; the asks made while
 * it waits or runs are all carried by one more run afterwards.
 *
 * @example
 * ```ts
 * import { Coalescer } from "./coalescer.ts";
 * let runs = 0;
 * const work = new Coalescer(async () => void runs++, () => 50);
 * const asks = [work.request(), work.request(), work.request()];
 * await Promise.all(asks);
 * runs; // 1: one run carried all three asks
 * ```
 */
export class Coalescer {
  #waiting?: PromiseWithResolvers<void>;
  #running: Promise<void> | null = null;
  #urgent = false;
  #timer?: ReturnType<typeof setTimeout>;
  /** When the waiting timer fires (performance.now() time). */
  #timerDue = Infinity;
  #lastStart = -Infinity;

  /**
   * @param task The work; its error rejects the asks its run carried.
   * @param gapMs The least time from one run's start to the next's, asked at each ask: a gap
   *   that shrank brings a waiting run forward.
   */
  constructor(readonly task: () => Promise<void>, readonly gapMs: () => number) {}

  /** Asks for a run; resolves when a run that started after this ask ends. */
  request(): Promise<void> {
    if (!this.#waiting) {
      this.#waiting = Promise.withResolvers();
      this.#waiting.promise.catch(() => {}); // an ask nobody awaits must not crash
    }
    const carried = this.#waiting.promise;
    this.#schedule();
    return carried;
  }

  /** Asks for a run as soon as the current one (if any) ends, without waiting for the gap. */
  now(): Promise<void> {
    this.#urgent = true;
    return this.request();
  }

  /** Drops a run that waits for its gap (the asks it would carry stay unanswered). */
  cancel(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#waiting = undefined;
    this.#urgent = false;
  }

  #schedule(): void {
    if (this.#running || !this.#waiting) return;
    const now = performance.now();
    const wait = this.#urgent ? 0 : this.#lastStart + this.gapMs() - now;
    if (wait > 0) {
      // A timer that fires sooner stays; one set for a longer gap than today's is replaced.
      if (this.#timer !== undefined && this.#timerDue <= now + wait) return;
      clearTimeout(this.#timer);
      this.#timerDue = now + wait;
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.#schedule();
      }, wait);
      return;
    }
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const carried = this.#waiting;
    this.#waiting = undefined;
    this.#urgent = false;
    this.#lastStart = performance.now();
    this.#running = this.task().then(carried.resolve, carried.reject).finally(() => {
      this.#running = null;
      this.#schedule();
    });
  }
}
