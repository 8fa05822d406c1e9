/**
 * The cache's parts alone: which files a function's code digest covers, the digest memo
 * that spares an unchanged tree a second read, and the canonical JSON of args.
 */
import assert from "node:assert/strict";
import { codeDigest } from "../src/task/code_digest.ts";
import { Digester, DigestMemo } from "../src/storage/digest.ts";
import { LocalDriver } from "../src/storage/local.ts";
import { canonicalJson, TaskCache, taskKey } from "../src/executors/task_cache.ts";
import { readJobDecisions, readTaskKeys, writeEntry } from "../src/records/cache.ts";
import { DataFs } from "../src/storage/data_fs.ts";
import { openStorage } from "../src/storage/open.ts";
import type { TaskRequest } from "../src/task/request.ts";

async function tree(files: Record<string, string>): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "kt-cache-units-" });
  for (const [path, text] of Object.entries(files)) {
    await Deno.mkdir(`${dir}/${path}`.replace(/\/[^/]+$/, ""), { recursive: true });
    await Deno.writeTextFile(`${dir}/${path}`, text);
  }
  return dir;
}

Deno.test("a TypeScript function's code digest covers the functions folder's modules it imports", async () => {
  const dir = await tree({
    "fns/main.ts": `import { a } from "./lib/a.ts";
import type { T } from "./types.ts";
import { z } from "npm:zod@4";
import { outside } from "../outside.ts";
export async function run() { return (await import("./lazy.ts")).x + a; }`,
    "fns/lib/a.ts": `export { b as a } from "../b.ts";`,
    "fns/b.ts": "export const b = 1;",
    "fns/types.ts": "export type T = number;",
    "fns/lazy.ts": "export const x = 2;",
    "fns/unused.ts": "export const u = 3;",
    "outside.ts": "export const outside = 4;",
  });
  try {
    const code = codeDigest(`${dir}/fns`, "main.run");
    assert.deepEqual(Object.keys(code.files), [
      "b.ts",
      "lazy.ts",
      "lib/a.ts",
      "main.ts",
      "types.ts",
    ]);
    await Deno.writeTextFile(`${dir}/fns/unused.ts`, "export const u = 4;");
    assert.equal(codeDigest(`${dir}/fns`, "main.run").digest, code.digest);
    await Deno.writeTextFile(`${dir}/fns/b.ts`, "export const b = 5;");
    assert.notEqual(codeDigest(`${dir}/fns`, "main.run").digest, code.digest);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a Python function's code digest follows absolute and relative imports inside the folder", async () => {
  const dir = await tree({
    "fns/__init__.py": "",
    "fns/main.py": `import os
import json, helpers.text
from pkg import mod
from .sibling import thing
from . import other
import pandas as pd
`,
    "fns/helpers/__init__.py": "",
    "fns/helpers/text.py": "from ..deep import value\n",
    "fns/deep.py": "value = 1\n",
    "fns/pkg/__init__.py": "",
    "fns/pkg/mod.py": "",
    "fns/sibling.py": "thing = 1\n",
    "fns/other.py": "",
    "fns/unused.py": "",
  });
  try {
    const code = codeDigest(`${dir}/fns`, "main.run");
    assert.deepEqual(Object.keys(code.files), [
      "deep.py",
      "helpers/__init__.py",
      "helpers/text.py",
      "main.py",
      "other.py",
      "pkg/__init__.py",
      "pkg/mod.py",
      "sibling.py",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the digest memo answers for a file whose size, mtime and inode are unchanged, without reading it", async () => {
  const dir = await tree({ "a.txt": "hello\n" });
  try {
    const past = new Date(Date.now() - 60_000);
    await Deno.utime(`${dir}/a.txt`, past, past);
    const memo = new DigestMemo();
    const first = await new Digester(new LocalDriver(dir), memo).digest("a.txt");
    assert.ok(memo.changed);
    // Kept and read back, as the next run does; the file can no longer be read.
    const kept = DigestMemo.parse(memo.serialize());
    await Deno.chmod(`${dir}/a.txt`, 0o000);
    const unreadable = await Deno.readTextFile(`${dir}/a.txt`).then(() => false, () => true);
    if (unreadable) {
      assert.equal(await new Digester(new LocalDriver(dir), kept).digest("a.txt"), first);
    }
    await Deno.chmod(`${dir}/a.txt`, 0o644);
    // Touched: the memo no longer answers, the file is read again, the digest is the same.
    const later = new Date(Date.now() - 30_000);
    await Deno.utime(`${dir}/a.txt`, later, later);
    const again = new DigestMemo();
    assert.equal(await new Digester(new LocalDriver(dir), again).digest("a.txt"), first);
    // A file changed a moment ago is not remembered (its mtime may not move again).
    await Deno.writeTextFile(`${dir}/b.txt`, "new\n");
    const fresh = new DigestMemo();
    await new Digester(new LocalDriver(dir), fresh).digest("b.txt");
    assert.equal(fresh.size, 0);
    assert.equal(DigestMemo.parse("not json").size, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("canonical JSON does not depend on the order of keys", () => {
  assert.equal(
    canonicalJson({ b: 1, a: { d: [2, { f: 1, e: 0 }], c: null } }),
    canonicalJson({ a: { c: null, d: [2, { e: 0, f: 1 }] }, b: 1 }),
  );
  assert.notEqual(canonicalJson({ a: [1, 2] }), canonicalJson({ a: [2, 1] }));
});

Deno.test("canonical JSON is the text JSON.stringify gives with each object's entries sorted", () => {
  const sorted = (value: unknown) =>
    JSON.stringify(
      value,
      (_key, v) =>
        v && typeof v === "object" && !Array.isArray(v)
          ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0))
          : v,
    );
  const values: unknown[] = [
    {},
    [],
    'a\u2028"é\ud800',
    [1, -0, 1.5e300, NaN, Infinity, true, null],
    { b: { d: [{ z: 1, a: [] }], c: "x" }, a: false, "": 0, B: 1, "é": 2, "a b": 3 },
    // Objects list keys like "10" first, by number: the text keeps that order.
    { b: 1, "10": 2, "2": 3, "01": 4, a: { "0": [] } },
    // Values JSON.stringify treats its own way.
    { a: undefined, b: [undefined, () => 1], c: new Date(0), d: { toJSON: () => "t" } },
    Object.assign(Object.create(null), { b: 1, a: 2 }),
    [new Map([[1, 2]]), new Uint8Array([1])],
  ];
  for (const value of values) assert.equal(canonicalJson(value), sorted(value));
});

Deno.test("a task's key is the one kt-deno has always given it (entries are shared between data dirs)", () => {
  const request = {
    runId: "ktpr0123abcd",
    dataDir: "/data/dir",
    functionsDir: "/functions",
    job: "copy",
    kind: "static",
    index: 7,
    function: "steps.copy",
    args: {
      output: "mid/7.txt",
      input: "input/7.txt",
      n: 1.5,
      deep: { z: [1, { y: null, x: true }], a: "é\u2028" },
      "10": 1,
      "2": 2,
    },
  } as unknown as TaskRequest;
  const code = { digest: `sha256:${"ab".repeat(32)}`, files: {} };
  assert.deepEqual(
    { ...taskKey(request, code), code: undefined },
    {
      key: "11476911faef6bc2c82e6118304b138a82c21e831c142d5b46739862f22629b6",
      code: undefined,
      args_digest: "8171546f7e797d45cc51e05567a69f6f9fd0ffda222ea666cada62b09272c308",
      env_digest: "aeb540b6be4bb79db45321623bd042c4331be74f1434f3a37762157a5fc04a5b",
    },
  );
  // On Kubernetes the image is in the key too.
  assert.equal(
    taskKey(request, code, "kt:1").key,
    "1f3838badeb8752c884a74ee2d88c805c8922d30f6f8871368cf750d5833f068",
  );
  // The same task in another run, or with its args' keys in another order, has the same key.
  const again = { ...request, runId: "ktprffffffff", args: { ...request.args } };
  assert.equal(taskKey(again, code).key, taskKey(request, code).key);
});

Deno.test("a parsed spec is kept only when JSON gives the same value back, keyed by the parser in deno.json", async () => {
  const { exactJson } = await import("../src/spec/load.ts");
  const { YAML_PARSER } = await import("../src/spec/parse.ts");
  assert.equal(
    exactJson({ a: [1, "x", true, null, { b: 2.5 }] }),
    '{"a":[1,"x",true,null,{"b":2.5}]}',
  );
  for (const value of [Infinity, NaN, -0, new Date(0), new Map(), undefined, 10n]) {
    assert.equal(exactJson({ value }), undefined, String(value));
  }
  assert.equal(exactJson(JSON.parse('{"__proto__": 1}')), undefined);
  const config = JSON.parse(await Deno.readTextFile(new URL("../deno.json", import.meta.url)));
  assert.ok(
    YAML_PARSER.startsWith(`${config.imports.yaml} `),
    "YAML_PARSER names deno.json's yaml",
  );
});

Deno.test("decisions written before a Job is made are what a restarted controller adopts", async () => {
  const dir = await tree({});
  try {
    const fs = new DataFs(openStorage(dir));
    const runId = "ktpr0000adop";
    const [k0, k1] = ["a", "b"].map((c) => c.repeat(64));
    const request = (index: number) => ({ job: "j", index }) as unknown as TaskRequest;
    // The first controller: task 0 answered from its entry, task 1 left to the Job.
    const first = await TaskCache.open(fs, runId);
    first.restore("j", [{ index: 0, outcome: "cached", why: "its entry holds", key: k0 }]);
    await first.flush("j", [{ request: request(1), key: k1, why: "no entry" }]);
    assert.deepEqual((await readJobDecisions(fs, runId, "j")).map((d) => [d.index, d.outcome]), [
      [0, "cached"],
      [1, "ran"],
    ]);
    // It dies; the Job's pod stores task 1's entry; the next controller adopts the Job.
    await writeEntry(fs, {
      key: k1,
      run_id: runId,
      job: "j",
      index: 1,
      function: "m.f",
      time: new Date().toISOString(),
      code: {},
      args_digest: "",
      env_digest: "",
      reads: {},
      lists: {},
      globs: {},
      writes: {},
    });
    const next = await TaskCache.open(fs, runId);
    const earlier = await readJobDecisions(fs, runId, "j");
    next.restore("j", earlier.filter((d) => d.outcome === "cached"));
    const misses = earlier.filter((d) => d.outcome === "ran").map((d) => ({
      request: request(d.index),
      key: d.key,
      why: d.why,
    }));
    await next.ranElsewhere(misses);
    await next.flush("j");
    assert.deepEqual(await readJobDecisions(fs, runId, "j"), [
      { index: 0, outcome: "cached", why: "its entry holds", key: k0 },
      { index: 1, outcome: "ran", why: "no entry", key: k1 },
    ]);
    assert.deepEqual(await readTaskKeys(fs, "j"), { 0: k0, 1: k1 });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
