import assert from "node:assert/strict";
import {
  ApiError,
  isTransient,
  KubeClient,
  RequestTimeout,
  retryDelay,
} from "../src/k8s/client.ts";
import {
  CHUNK_BYTES,
  layOutTasks,
  type TaskDefinition,
  utf8Length,
} from "../src/records/task_files.ts";
import { freePort } from "./ports.ts";

const LIMITS = {
  maxInFlight: 4,
  requestTimeoutMs: 1000,
  retryForMs: 1000,
  backoffMs: 100,
  maxBackoffMs: 5000,
};

Deno.test("429, 5xx, resets, refusals and timeouts are transient; other answers are not", () => {
  assert.ok(isTransient(new ApiError(429, "TooManyRequests", "slow down")));
  assert.ok(isTransient(new ApiError(503, "ServiceUnavailable", "later")));
  assert.ok(isTransient(new ApiError(500, "InternalError", "oops")));
  assert.ok(isTransient(Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" })));
  assert.ok(isTransient(Object.assign(new Error("connect"), { code: "ECONNREFUSED" })));
  assert.ok(isTransient(new RequestTimeout("GET /x", 1000)));
  for (const status of [400, 401, 403, 404, 409, 422, 501]) {
    assert.equal(isTransient(new ApiError(status, "", "")), false, String(status));
  }
  assert.equal(isTransient(new TypeError("x is not a function")), false);
});

Deno.test("backoff doubles with jitter up to its cap and honours Retry-After", () => {
  for (let attempt = 0; attempt < 12; attempt++) {
    const ceiling = Math.min(5000, 100 * 2 ** attempt);
    const delay = retryDelay(attempt, LIMITS);
    assert.ok(delay >= ceiling / 2 && delay <= ceiling, `attempt ${attempt}: ${delay}`);
  }
  const asked = new ApiError(429, "TooManyRequests", "slow down", 3);
  assert.ok(retryDelay(0, LIMITS, asked) >= 3000);
});

Deno.test("a refused connection is retried for the retry time, counted, then thrown", async () => {
  const kube = new KubeClient({
    server: `https://127.0.0.1:${freePort()}`,
    namespace: "default",
    headers: () => Promise.resolve({}),
  }, LIMITS);
  try {
    const started = Date.now();
    await assert.rejects(
      () => kube.request("GET", "/api/v1/namespaces/default/pods"),
      (error: unknown) => (error as { code?: string }).code === "ECONNREFUSED",
    );
    assert.ok(Date.now() - started < LIMITS.retryForMs + LIMITS.maxBackoffMs);
    assert.ok(kube.retries.network >= 2, JSON.stringify(kube.retries));
    assert.equal(kube.retries.throttled, 0);
  } finally {
    kube.close();
  }
});

Deno.test("task definitions: 64 small tasks to a chunk; a large one in a file of its own", () => {
  const small = (i: number): TaskDefinition => ({ kind: "static", function: "m.f", args: { i } });
  const tasks = Array.from({ length: 200 }, (_, i) => small(i));
  tasks[70] = { kind: "static", function: "m.f", args: { blob: "x".repeat(5000) } };
  const laid = layOutTasks("ktpr0123abcd", "load", tasks.length, () => tasks);
  const { perChunk } = laid;
  const files = [...laid.files];
  assert.equal(laid.count, files.length);
  assert.equal(perChunk, 64);
  const chunks = files.filter((f) => f.path.includes("/chunk-"));
  assert.deepEqual(chunks.map((f) => f.path.split("/").at(-1)), [
    "chunk-0.json",
    "chunk-1.json",
    "chunk-2.json",
    "chunk-3.json",
  ]);
  for (const chunk of chunks) assert.ok(chunk.text.length <= CHUNK_BYTES, chunk.path);
  const own = files.find((f) => f.path.endsWith("/load/70.json"))!;
  assert.deepEqual(JSON.parse(own.text), tasks[70]);
  const second = JSON.parse(chunks[1].text);
  assert.equal(second[70 - 64], null);
  assert.deepEqual(second[0], small(64));
  assert.equal(files.length, 5);
});

Deno.test("tasks larger than a chunk's share make chunks of fewer tasks", () => {
  const tasks = Array.from({ length: 10 }, (_, i): TaskDefinition => ({
    kind: "static",
    command: ["echo", String(i).repeat(900)],
    args: {},
  }));
  const laid = layOutTasks("ktpr0123abcd", "big", tasks.length, () => tasks);
  const { perChunk } = laid;
  const files = [...laid.files];
  assert.equal(laid.count, files.length);
  assert.equal(perChunk, 4);
  assert.equal(files.length, 3);
  for (const file of files) assert.ok(file.text.length <= CHUNK_BYTES);
});

Deno.test("chunks are measured in UTF-8 bytes, not in characters", () => {
  assert.equal(utf8Length("aé€😀"), 1 + 2 + 3 + 4);
  assert.equal(utf8Length("😀"), new TextEncoder().encode("😀").length);
  const tasks = Array.from({ length: 300 }, (_, i): TaskDefinition => ({
    kind: "static",
    function: "m.f",
    args: { i, label: "€".repeat(40 + (i % 7)) },
  }));
  const laid = layOutTasks("ktpr0123abcd", "wide", tasks.length, () => tasks);
  const files = [...laid.files];
  assert.equal(files.length, laid.count);
  for (const file of files) {
    assert.ok(new TextEncoder().encode(file.text).length <= CHUNK_BYTES, file.path);
  }
  const own = new Map(
    files.filter((f) => !f.path.includes("/chunk-")).map((f) => [
      Number(/(\d+)\.json$/.exec(f.path)![1]),
      JSON.parse(f.text),
    ]),
  );
  const back = files.filter((f) => f.path.includes("/chunk-")).flatMap((f) => JSON.parse(f.text))
    .map((entry, index) => entry ?? own.get(index));
  assert.ok(own.size > 0, "some tasks are over a chunk's share");
  assert.deepEqual(back, tasks);
});
