/**
 * The cache in a task pod (`KT_CACHE=1`, set by the controller for a job that uses the
 * cache): `kt-deno task` run here as a process with a pod's environment, over task files
 * laid out as the controller writes them. A one-task pod of a Job of missed tasks runs the
 * task `KT_TASK_INDEXES` names and stores its entry; run again, it answers it from the
 * entry; a packed pod skips its tasks whose entries hold; another image is another key.
 */
import assert from "node:assert/strict";
import type { CacheEntry } from "../src/records/cache.ts";
import { cacheEntriesDir } from "../src/records/layout.ts";
import { layOutTasks, type TaskDefinition } from "../src/records/task_files.ts";
import { VERSION } from "../src/version.ts";
import { ktDeno } from "./cli_helpers.ts";

const RUN = "ktpr0000cach";
const FUNCTIONS = new URL("../examples/hello-world/kt_functions", import.meta.url).pathname;
const FILES = ["a.txt", "b.txt", "c.txt"];

async function layOut(job: string) {
  const dir = await Deno.makeTempDir({ prefix: "kt-pod-cache-" });
  const definitions = FILES.map((f): TaskDefinition => ({
    kind: "static",
    function: "hello.prepend",
    args: { input: `input/${f}`, output: `out/${f}` },
  }));
  const files = layOutTasks(RUN, job, definitions.length, () => definitions);
  for (const { path, text } of files.files) {
    await Deno.mkdir(`${dir}/${path.slice(0, path.lastIndexOf("/"))}`, { recursive: true });
    await Deno.writeTextFile(`${dir}/${path}`, text);
  }
  await Deno.mkdir(`${dir}/input`);
  for (const f of FILES) await Deno.writeTextFile(`${dir}/input/${f}`, `line of ${f}\n`);
  return { dir, perChunk: files.perChunk };
}

function pod(
  where: { dir: string; perChunk: number },
  index: number,
  env: Record<string, string>,
) {
  return ktDeno(["task"], where.dir, {
    KT_RUN_ID: RUN,
    KT_JOB_NAME: "prep",
    JOB_COMPLETION_INDEX: String(index),
    DATA_DIR: where.dir,
    KT_VERSION: VERSION,
    KT_TASKS_PER_CHUNK: String(where.perChunk),
    KT_FUNCTIONS_DIR: FUNCTIONS,
    KT_IMAGE_PATH: "kt-test:1",
    KT_CACHE: "1",
    ...env,
  });
}

/** Every entry stored in the data dir `dir`. */
async function allEntries(dir: string): Promise<CacheEntry[]> {
  const out: CacheEntry[] = [];
  const root = `${dir}/${cacheEntriesDir()}`;
  if (!await Deno.stat(root).catch(() => null)) return out;
  for await (const shard of Deno.readDir(root)) {
    for await (const file of Deno.readDir(`${root}/${shard.name}`)) {
      out.push(JSON.parse(await Deno.readTextFile(`${root}/${shard.name}/${file.name}`)));
    }
  }
  return out;
}

async function entries(dir: string) {
  const list = await allEntries(dir);
  return list.map((e) => ({ index: e.index, time: e.time, key: e.key })).sort((a, b) =>
    a.index - b.index || (a.key < b.key ? -1 : 1)
  );
}

Deno.test("a pod with the cache runs the task KT_TASK_INDEXES names, stores it, then answers it", async () => {
  const where = await layOut("prep");
  try {
    const first = await pod(where, 0, { KT_TASK_INDEXES: "2" });
    assert.equal(first.code, 0, first.stdout + first.stderr);
    assert.equal(await Deno.readTextFile(`${where.dir}/out/c.txt`), "Hello World: line of c.txt\n");
    assert.equal(await Deno.stat(`${where.dir}/out/a.txt`).catch(() => null), null);
    const stored = await entries(where.dir);
    assert.deepEqual(stored.map((e) => e.index), [2]);
    const [entry] = await allEntries(where.dir);
    assert.deepEqual(Object.keys(entry.reads), ["input/c.txt"]);
    assert.deepEqual(Object.keys(entry.writes), ["out/c.txt"]);
    assert.equal(entry.run_id, RUN);

    // The same pod again (a retried pod): its entry holds, so it is not run.
    const again = await pod(where, 0, { KT_TASK_INDEXES: "2" });
    assert.equal(again.code, 0, again.stdout + again.stderr);
    assert.match(again.stdout, /cached, not run \(its entry holds\)/);
    assert.deepEqual(await entries(where.dir), stored);

    // A packed pod of all three tasks skips task 2 and stores the others.
    const packed = await pod(where, 0, {
      KT_TASKS_PER_POD: "3",
      KT_TASK_COUNT: "3",
      KT_POD_WORKERS: "2",
    });
    assert.equal(packed.code, 0, packed.stdout + packed.stderr);
    const after = await entries(where.dir);
    assert.deepEqual(after.map((e) => e.index), [0, 1, 2]);
    assert.deepEqual(after[2], stored[0], "task 2's entry is untouched: it was skipped");
    assert.equal(await Deno.readTextFile(`${where.dir}/out/a.txt`), "Hello World: line of a.txt\n");

    // Another image is another key: the task runs, and a second entry is stored.
    const other = await pod(where, 0, { KT_TASK_INDEXES: "2", KT_IMAGE_PATH: "kt-test:2" });
    assert.equal(other.code, 0, other.stdout + other.stderr);
    assert.doesNotMatch(other.stdout, /cached, not run/);
    assert.deepEqual((await entries(where.dir)).map((e) => e.index), [0, 1, 2, 2]);
  } finally {
    await Deno.remove(where.dir, { recursive: true });
  }
});

Deno.test("a pod told of a completion index KT_TASK_INDEXES lacks fails as set up wrong (exit 2)", async () => {
  const where = await layOut("prep");
  try {
    const result = await pod(where, 3, { KT_TASK_INDEXES: "0,2" });
    assert.equal(result.code, 2, result.stdout + result.stderr);
    assert.match(result.stderr, /KT_TASK_INDEXES has no task for completion index 3/);
  } finally {
    await Deno.remove(where.dir, { recursive: true });
  }
});
