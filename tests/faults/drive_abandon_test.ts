/**
 * The driver loop when the data dir fails for good: the run is abandoned (Failed, with the
 * reason), nothing more is launched, and the final state is written once the store answers.
 * The executor is a stand-in (the loop's contract is pure); the store is a real folder.
 */
import assert from "node:assert/strict";
import { PipelineRun } from "../../src/engine/pipeline_run.ts";
import { type StateDocument } from "../../src/engine/state.ts";
import { statePath } from "../../src/records/layout.ts";
import type { Executor, JobOutcome } from "../../src/executors/executor.ts";
import { drivePipeline } from "../../src/run/drive.ts";
import { DataFs } from "../../src/storage/data_fs.ts";
import { LocalDriver } from "../../src/storage/local.ts";
import { StorageUnavailableError } from "../../src/storage/retrying.ts";
import type { Job } from "../../src/spec/schema.ts";

const job = (name: string, dependencies: string[] = []): Job => ({
  name,
  type: "static",
  memory: "1Gi",
  cpu: "500m",
  dependencies,
  tasks: [{ function: "m.f", args: {} }],
});

/** Finishes each job when the test says so; records what it was asked to run. */
class HeldExecutor implements Executor {
  readonly started: string[] = [];
  readonly #finish = new Map<string, (outcome: JobOutcome) => void>();
  #waiting?: { count: number; resolve: () => void };
  stopped = false;

  run(job: { name: string }): Promise<JobOutcome> {
    this.started.push(job.name);
    if (this.started.length === this.#waiting?.count) this.#waiting.resolve();
    return new Promise((resolve) => this.#finish.set(job.name, resolve));
  }
  /** Resolves once `count` jobs have been started. */
  startedJobs(count: number): Promise<void> {
    if (this.started.length >= count) return Promise.resolve();
    return new Promise((resolve) => this.#waiting = { count, resolve });
  }
  finish(name: string) {
    this.#finish.get(name)!({ ok: true, taskRetries: 0 });
  }
  stop(): Promise<void> {
    this.stopped = true;
    for (const finish of this.#finish.values()) {
      finish({ ok: false, error: "stopped", taskRetries: 0 });
    }
    return Promise.resolve();
  }
}

Deno.test("a data dir that fails for good abandons the run; the state says Failed and why", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kt-drive-" });
  try {
    let down = false;
    const store = new class extends LocalDriver {
      override write(path: string, data: Uint8Array) {
        if (!down) return super.write(path, data);
        down = false; // the store is back for the final write
        return Promise.reject(new StorageUnavailableError(dir, 8, new Error("S3 ECONNREFUSED")));
      }
    }(dir);
    const fs = new DataFs(store);
    const run = PipelineRun.start(
      "ktpr0000fa17",
      { name: "p", jobs: [job("a"), job("b"), job("c", ["a"]), job("d", ["c"])] },
      new Date(),
    );
    const executor = new HeldExecutor();
    const driving = drivePipeline(run, executor, fs);
    await executor.startedJobs(2);
    assert.deepEqual(executor.started.sort(), ["a", "b"]);
    down = true;
    executor.finish("a");
    await assert.rejects(driving, /unreachable for 8 s, gave up: S3 ECONNREFUSED/);
    assert.deepEqual(executor.started.sort(), ["a", "b", "c"], "d was not launched");
    assert.ok(executor.stopped);
    const state = await fs.readJson<StateDocument>(statePath(run.runId));
    assert.equal(state.status, "Failed");
    assert.match(state.error!, /^the run stopped: data dir .* unreachable for 8 s/);
    assert.equal(state.jobs.a.status, "Completed");
    assert.equal(state.jobs.b.status, "Failed");
    assert.match(state.jobs.b.error!, /^the run stopped: /);
    assert.equal(state.jobs.c.status, "Failed");
    assert.equal(state.jobs.d.status, "SkippedDueToUpstreamFailure");
    assert.ok(state.finished_at);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
