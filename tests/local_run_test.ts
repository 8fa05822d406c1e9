import assert from "node:assert/strict";
import { JobStatus, PipelineRun } from "../src/engine/mod.ts";
import { statePath } from "../src/records/layout.ts";
import { denoWorkers, pythonWorkers, WorkerPool } from "../src/executors/worker_pool.ts";
import { runLocally } from "../src/run/local_run.ts";
import { StateWriter } from "../src/records/state_writer.ts";
import { validatePipeline } from "../src/spec/mod.ts";
import { DataFs } from "../src/storage/data_fs.ts";
import { LocalDriver } from "../src/storage/local.ts";
import { selfCommand } from "../src/task/self_command.ts";
import { FIXTURE_FUNCTIONS } from "./cli_helpers.ts";

Deno.test("dynamic jobs that return the same name at once: one registers it, the others fail", async () => {
  const twin = { name: "twin", type: "static", tasks: [{ function: "steps.noop" }] };
  const names = ["d1", "d2"];
  const spec = validatePipeline({
    name: "race",
    jobs: names.map((name) => ({
      name,
      type: "dynamic",
      function: "steps.spawn",
      args: { jobs: [twin] },
    })),
  });
  assert.ok(spec.ok);
  const dataDir = await Deno.makeTempDir({ prefix: "kt-race-" });
  try {
    const run = await runLocally(spec.value, {
      runId: "ktpr0000race",
      dataDir,
      functionsDir: FIXTURE_FUNCTIONS,
      concurrency: names.length,
    });
    const won = names.filter((name) => run.job(name)?.status === JobStatus.Completed);
    assert.deepEqual(won, [run.job("twin")?.parent_job], "one parent, the one that registered it");
    for (const name of names.filter((name) => name !== won[0])) {
      assert.equal(run.job(name)?.status, JobStatus.Failed);
      assert.match(run.job(name)?.error ?? "", /Duplicate job name "twin"/);
    }
    assert.equal(run.job("twin")?.status, JobStatus.Completed);
    assert.equal(run.status, "Failed");
    const written = JSON.parse(await Deno.readTextFile(`${dataDir}/${statePath(run.runId)}`));
    assert.deepEqual(written, run.document, "the last write carries the final state");
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("saves made while a write waits are carried by one write; flush writes at once", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "kt-writer-" });
  try {
    const now = new Date();
    const jobs = Array.from({ length: 5_000 }, (_, i) => ({
      name: `j-${i}`,
      type: "static" as const,
      memory: "1Gi",
      cpu: "1",
      dependencies: [],
      tasks: [{ args: {} }],
    }));
    const run = PipelineRun.start("ktpr0000save", { name: "p", jobs }, now);
    const writer = new StateWriter(new DataFs(new LocalDriver(dataDir)), run, 3_600_000);
    const first = writer.save(); // the first write starts at once
    const saves = run.advance(now).map((job) => {
      run.succeed(job.name, [], now);
      return writer.save(); // these wait an hour for their turn...
    });
    await first;
    await writer.flush(); // ...unless flushed
    await Promise.all(saves);
    assert.equal(writer.writes, 2);
    const text = await Deno.readTextFile(`${dataDir}/${statePath(run.runId)}`);
    assert.deepEqual(JSON.parse(text), run.document);
    assert.equal(text.includes("\n "), false, "a document over 1 MiB is compact");
    assert.ok(writer.bytes > text.length, "bytes of both writes are counted");
    await writer.flush();
    assert.equal(writer.writes, 2, "nothing changed since: nothing written");
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("a save asked for as soon as a write ends is written too", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "kt-writer-" });
  try {
    const now = new Date();
    const job = { name: "a", type: "static" as const, memory: "1Gi", cpu: "1", dependencies: [] };
    const run = PipelineRun.start("ktpr0000next", {
      name: "p",
      jobs: [{ ...job, tasks: [{ args: {} }] }],
    }, now);
    const writer = new StateWriter(new DataFs(new LocalDriver(dataDir)), run, 0);
    await writer.flush();
    // Runs in the continuation of the first write's end, before anything else.
    run.advance(now);
    await writer.flush();
    run.succeed("a", [], now);
    await writer.save();
    assert.equal(writer.writes, 3);
    const text = await Deno.readTextFile(`${dataDir}/${statePath(run.runId)}`);
    assert.equal(JSON.parse(text).status, "Completed");
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("a worker that has served its share of tasks is replaced by a fresh one", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "kt-pool-" });
  const pool = new WorkerPool(
    { typescript: denoWorkers(selfCommand(["worker"]), {}), python: pythonWorkers },
    () => {},
    2,
  );
  try {
    const signal = new AbortController().signal;
    for (let index = 0; index < 5; index++) {
      const result = await pool.exec({
        runId: "ktpr0000pool",
        job: "j",
        kind: "static",
        index,
        function: "steps.pid",
        args: { name: String(index) },
        dataDir,
        functionsDir: FIXTURE_FUNCTIONS,
      }, signal);
      assert.deepEqual(result, { ok: true });
    }
    const pids = await Promise.all(
      [0, 1, 2, 3, 4].map((i) => Deno.readTextFile(`${dataDir}/pids/${i}`)),
    );
    assert.equal(pids[0], pids[1]);
    assert.notEqual(pids[1], pids[2]);
    assert.equal(pids[2], pids[3]);
    assert.notEqual(pids[3], pids[4]);
  } finally {
    await pool.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});
