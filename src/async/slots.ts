/**
 * A counting semaphore: at most `size` holders at once, waiters served in order.
 *
 * @module
 */

/**
 * Limits how many things run at once.
 *
 * @example
 * ```ts
 * import { Slots } from "./slots.ts";
 * const slots = new Slots(2);
 * const release = await slots.acquire();
 * try {
 *   // the work
 * } finally {
 *   release();
 * }
 * ```
 */
export class Slots {
  #free: number;
  /** Waiters in order; those before `#first` have been served. */
  #waiting: (() => void)[] = [];
  #first = 0;

  constructor(size: number) {
    if (!(size >= 1)) throw new RangeError(`slot count must be at least 1, got ${size}`);
    this.#free = size;
  }

  /** Waits for a slot; the returned function gives it back (once). */
  async acquire(): Promise<() => void> {
    if (this.#free > 0) this.#free--;
    else await new Promise<void>((resolve) => this.#waiting.push(resolve));
    return this.#release();
  }

  /**
   * A free slot now, without waiting (and without a turn of the event loop): the function
   * that gives it back; undefined when none is free or others wait for one.
   */
  tryAcquire(): (() => void) | undefined {
    if (this.#free === 0 || this.#first < this.#waiting.length) return undefined;
    this.#free--;
    return this.#release();
  }

  #release(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#waiting[this.#first];
      if (next === undefined) this.#free++;
      else this.#serve(next);
    };
  }

  #serve(next: () => void): void {
    this.#first++;
    if (this.#first === this.#waiting.length) {
      this.#waiting = [];
      this.#first = 0;
    } else if (this.#first > 1024 && this.#first * 2 > this.#waiting.length) {
      this.#waiting = this.#waiting.slice(this.#first);
      this.#first = 0;
    }
    next();
  }
}
