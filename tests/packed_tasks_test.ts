import assert from "node:assert/strict";
import { PipelineRun } from "../src/engine/mod.ts";
import { PACK_TASKS_FROM, readKeptSpec, writeKeptSpec } from "../src/records/kept_spec.ts";
import { keptSpecPath } from "../src/records/layout.ts";
import { encodeState, INDENT_UP_TO } from "../src/records/state_json.ts";
import { PackedTasks } from "../src/spec/packed_tasks.ts";
import type { Pipeline, Task } from "../src/spec/schema.ts";
import { DataFs } from "../src/storage/data_fs.ts";
import { LocalDriver } from "../src/storage/local.ts";

/** Tasks whose text has what a scanner can trip on: commas, brackets, quotes, escapes. */
const awkward: Task[] = [
  { function: "m.f", args: { text: 'a, "b" ] [ } {', path: "c:\\d\\", n: [1, [2, { x: 3 }]] } },
  { args: {}, command: ["sh", "-c", "echo ']' ,"] },
  { function: "m.g", args: { s: "é€😀\u0000\n" } },
  { args: { nested: { list: [{}, [], ""] } } },
];

Deno.test("packed tasks give back each task and the same JSON as the array", () => {
  const packed = PackedTasks.of(awkward);
  assert.equal(packed.length, awkward.length);
  awkward.forEach((task, i) => assert.deepEqual(packed.at(i), task));
  assert.deepEqual(packed.at(-1), awkward.at(-1));
  assert.equal(packed.at(awkward.length), undefined);
  assert.deepEqual([...packed], awkward);
  assert.equal(new TextDecoder().decode(packed.json), JSON.stringify(awkward));
  assert.equal(JSON.stringify({ tasks: packed }), JSON.stringify({ tasks: awkward }));
  const again = PackedTasks.fromJson(packed.json);
  assert.deepEqual(again.toArray(), awkward);
  assert.equal(PackedTasks.of([]).length, 0);
});

Deno.test("a task list read from text finds its tasks without parsing them", () => {
  const text = ` [ ${awkward.map((task) => JSON.stringify(task, null, 2)).join(" ,\n")} ] \n`;
  const packed = PackedTasks.fromJson(new TextEncoder().encode(text));
  assert.equal(packed.length, awkward.length);
  assert.deepEqual(packed.toArray(), awkward);
  awkward.forEach((task, i) => assert.deepEqual(packed.at(i), task));
  assert.equal(PackedTasks.fromJson(new TextEncoder().encode(" [ ] ")).length, 0);
  for (const bad of ["{}", "[{}", "[{}] x", ""]) {
    assert.throws(() => PackedTasks.fromJson(new TextEncoder().encode(bad)), SyntaxError, bad);
  }
});

Deno.test("a large state document with packed lists is the bytes JSON.stringify gives", () => {
  const many = Array.from({ length: 30_000 }, (_, i): Task => ({ function: "m.f", args: { i } }));
  const jobs = [
    { name: "wide", tasks: many },
    { name: "odd", tasks: [...awkward, ...many.slice(0, 2_000)] },
    { name: "small", tasks: awkward },
  ].map((job) => ({ ...job, type: "static" as const, memory: "1Gi", cpu: "1", dependencies: [] }));
  const plain = PipelineRun.start("ktpr0000pack", { name: "p", jobs }, new Date(0));
  const packed = PipelineRun.start("ktpr0000pack", { name: "p", jobs }, new Date(0), undefined, {
    packTasksFrom: 1_000,
  });
  assert.ok(packed.job("wide")!.tasks instanceof PackedTasks);
  assert.ok(packed.job("odd")!.tasks instanceof PackedTasks);
  assert.ok(Array.isArray(packed.job("small")!.tasks), "a short list stays an array");
  const bytes = encodeState(packed.document);
  assert.ok(bytes.length > INDENT_UP_TO);
  assert.equal(new TextDecoder().decode(bytes), JSON.stringify(plain.document) + "\n");
  // A small document is indented, packed lists and all.
  const one = PipelineRun.start("ktpr0000pack", { name: "p", jobs: [jobs[2]] }, new Date(0));
  const small = PipelineRun.start("ktpr0000pack", { name: "p", jobs: [jobs[2]] }, new Date(0), "", {
    packTasksFrom: 1,
  });
  assert.equal(
    new TextDecoder().decode(encodeState(small.document)),
    JSON.stringify(one.document, null, 2) + "\n",
  );
});

Deno.test("a kept spec keeps long task lists in files of their own and reads them back packed", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kt-kept-" });
  try {
    const fs = new DataFs(new LocalDriver(dir));
    const long = Array.from({ length: PACK_TASKS_FROM }, (_, i): Task => ({ args: { i } }));
    const pipeline: Pipeline = {
      name: "p",
      jobs: [
        { name: "long", type: "static", memory: "1Gi", cpu: "1", dependencies: [], tasks: long },
        {
          name: "short",
          type: "static",
          memory: "1Gi",
          cpu: "1",
          dependencies: [],
          tasks: awkward,
        },
      ],
    };
    await writeKeptSpec(fs, "ktpr0000kept", pipeline);
    const spec = await Deno.readTextFile(`${dir}/${keptSpecPath("ktpr0000kept")}`);
    assert.ok(spec.length < 2_000, "the long list is not in the spec file");
    const back = await readKeptSpec(fs, "ktpr0000kept");
    assert.ok(back.jobs[0].tasks instanceof PackedTasks);
    assert.ok(Array.isArray(back.jobs[1].tasks));
    // What resume compares: the kept spec against the spec file loaded again.
    assert.equal(JSON.stringify(back), JSON.stringify(pipeline));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
