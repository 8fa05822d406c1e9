/**
 * The building blocks under everything: retry with backoff, the coalescer, until.
 */
import assert from "node:assert/strict";
import { backoffDelay, retry } from "../src/async/backoff.ts";
import { Coalescer } from "../src/async/coalescer.ts";
import { until } from "../src/async/until.ts";

const quick = { firstMs: 1, maxMs: 4 };

Deno.test("backoff doubles up to its longest delay, jittered between half and all of it", () => {
  for (let attempt = 0; attempt < 12; attempt++) {
    const ceiling = Math.min(5000, 100 * 2 ** attempt);
    const delay = backoffDelay(attempt, { firstMs: 100, maxMs: 5000 });
    assert.ok(delay >= ceiling / 2 && delay <= ceiling, `attempt ${attempt}: ${delay}`);
  }
});

Deno.test("retry tries a transient error again and returns what the call gives", async () => {
  let tries = 0;
  const value = await retry(
    () => ++tries < 4 ? Promise.reject(new Error("busy")) : Promise.resolve(tries),
    { backoff: quick, retryForMs: 10_000, isTransient: () => true },
  );
  assert.equal(value, 4);
});

Deno.test("retry throws a permanent error at once", async () => {
  let tries = 0;
  await assert.rejects(
    retry(() => {
      tries++;
      return Promise.reject(new Error("refused"));
    }, { backoff: quick, retryForMs: 10_000, isTransient: () => false }),
    /refused/,
  );
  assert.equal(tries, 1);
});

Deno.test("retry gives up when its time is spent, with what giveUp makes of the last error", async () => {
  let tries = 0;
  const retried: number[] = [];
  await assert.rejects(
    retry(() => {
      tries++;
      return Promise.reject(new Error("down"));
    }, {
      backoff: quick,
      retryForMs: 30,
      isTransient: () => true,
      onRetry: (_error, delay) => retried.push(delay),
      giveUp: (error) => new Error(`gave up: ${(error as Error).message}`),
    }),
    /^Error: gave up: down$/,
  );
  assert.equal(retried.length, tries - 1, "told before each wait");
  assert.ok(tries >= 2);
});

Deno.test("a coalescer carries the asks made while it runs with one more run", async () => {
  let runs = 0;
  let release = () => {};
  const work = new Coalescer(async () => {
    runs++;
    await new Promise<void>((resolve) => release = resolve);
  }, () => 0);
  const first = work.request();
  const during = [work.request(), work.request(), work.request()];
  release();
  await first;
  await until("the second run to start", 10, () => runs === 2, { everyMs: 1 });
  release();
  await Promise.all(during);
  assert.equal(runs, 2);
});

Deno.test("a coalescer waits its gap, unless asked to run now", async () => {
  let runs = 0;
  const work = new Coalescer(() => Promise.resolve(void runs++), () => 3_600_000);
  await work.request();
  const later = work.request(); // waits an hour...
  await work.now(); // ...unless run now, which carries it
  await later;
  assert.equal(runs, 2);
  work.cancel();
});

Deno.test("a coalescer's waiting run comes forward when its gap shrinks", async () => {
  // The follower reads slowly while jobs run and quickly once the last one ended: a read set
  // for the slow gap must not hold back the quick one (it held run --wait's exit back).
  let runs = 0;
  let gap = 3_600_000;
  const work = new Coalescer(() => Promise.resolve(void runs++), () => gap);
  await work.request();
  // One turn of the event loop: the first run's own bookkeeping ends after its asks resolve.
  await new Promise((resolve) => setTimeout(resolve, 0));
  const slow = work.request(); // set for an hour
  gap = 50; // still a wait, but a short one
  const quick = work.request();
  try {
    await until("the run asked for after the gap shrank", 10, () => runs === 2, { everyMs: 5 });
    await Promise.all([slow, quick]);
  } finally {
    work.cancel();
  }
});

Deno.test("a coalescer's failed run rejects the asks it carried, and the next run goes on", async () => {
  let fail = true;
  const work = new Coalescer(
    () => fail ? Promise.reject(new Error("write failed")) : Promise.resolve(),
    () => 0,
  );
  await assert.rejects(work.request(), /write failed/);
  fail = false;
  await work.request();
});

Deno.test("until returns the check's value, and names what it waited for when time is up", async () => {
  let polls = 0;
  assert.equal(
    await until("three polls", 5, () => ++polls === 3 && "three", { everyMs: 1 }),
    "three",
  );
  await assert.rejects(
    until("nothing", 0.05, () => false, { everyMs: 5, detail: () => "(it never came)" }),
    /^Error: timed out after 0.05s waiting for nothing \(it never came\)$/,
  );
  await assert.rejects(
    until("a check that throws", 5, () => {
      throw new Error("broken");
    }, { retryErrors: false }),
    /broken/,
  );
});
