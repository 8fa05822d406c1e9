/**
 * MinIO stopped under a local run on an s3:// data dir: an outage within the retry bound
 * (`KT_STORAGE_RETRY_SECONDS`) does not fail the run; a longer one fails it clearly, and
 * the state document, written once the store is back, does not say Running.
 *
 * Each run: `first` writes to the bucket; the test stops MinIO once `first` is Completed
 * and opens a gate that lets the command job `gated` end, so that the launcher's next state
 * write and `last`'s write meet the outage.
 */
import assert from "node:assert/strict";
import type { StateDocument } from "../../src/engine/state.ts";
import { DataFs } from "../../src/storage/data_fs.ts";
import { S3Driver } from "../../src/storage/s3.ts";
import { FIXTURE_FUNCTIONS, runIdOf, spawnKtDeno, specFile } from "../cli_helpers.ts";
import { startMinio } from "../minio/harness.ts";
import { until } from "../until.ts";

const OUTAGE_SECONDS = 30;
const settings = { sanitizeOps: false, sanitizeResources: false };

/** A spec whose middle job waits for a local gate file. */
function gatedSpec(gate: string) {
  return {
    name: "outage",
    jobs: [
      { name: "first", type: "static", tasks: [{ function: "steps.ok", args: { name: "first" } }] },
      {
        name: "gated",
        type: "static",
        dependencies: ["first"],
        tasks: [{ command: ["sh", "-c", `until [ -e '${gate}' ]; do sleep 0.05; done`] }],
      },
      {
        name: "last",
        type: "static",
        dependencies: ["gated"],
        tasks: [{ function: "steps.ok", args: { name: "last" } }],
      },
    ],
  };
}

/** Starts a local run and collects its output lines as they come. */
function startRun(args: string[], cwd: string, env: Record<string, string>) {
  const child = spawnKtDeno(args, cwd, env);
  const stderr: string[] = [];
  let stdout = "";
  const collect = async (stream: ReadableStream<Uint8Array>, into: (text: string) => void) => {
    for await (const text of stream.pipeThrough(new TextDecoderStream())) into(text);
  };
  let partial = "";
  const done = Promise.all([
    collect(child.stdout, (text) => stdout += text),
    collect(child.stderr, (text) => {
      const lines = (partial + text).split("\n");
      partial = lines.pop()!;
      stderr.push(...lines);
    }),
  ]);
  return {
    child,
    stderr,
    stdout: () => stdout,
    saw: (pattern: RegExp) => stderr.some((line) => pattern.test(line)),
    done,
  };
}

async function outageRun(retrySeconds?: number) {
  const minio = await startMinio();
  const { dir, path } = await specFile(gatedSpec(""));
  const gate = `${dir}/gate`;
  await Deno.writeTextFile(path, JSON.stringify(gatedSpec(gate)));
  const prefix = `outage-${crypto.randomUUID().slice(0, 8)}`;
  const dataDir = `s3://${minio.bucket}/${prefix}`;
  const env = {
    ...minio.env,
    ...(retrySeconds === undefined ? {} : { KT_STORAGE_RETRY_SECONDS: String(retrySeconds) }),
  };
  const run = startRun(
    ["run", path, "--data-dir", dataDir, "--functions", FIXTURE_FUNCTIONS],
    dir,
    env,
  );
  const bucket = () => {
    for (const [key, value] of Object.entries(minio.env)) Deno.env.set(key, value);
    return new DataFs(new S3Driver(dataDir));
  };
  return {
    minio,
    run,
    gate,
    bucket,
    cleanup: async () => {
      await minio.stop();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test({
  name: `MinIO stopped for ${OUTAGE_SECONDS} s under a local run: the run completes`,
  ...settings,
  fn: async () => {
    const { minio, run, gate, bucket, cleanup } = await outageRun();
    try {
      await until("first to complete", 60, () => run.saw(/ first Completed/));
      await minio.halt();
      const stoppedAt = Date.now();
      await Deno.writeTextFile(gate, "");
      await until("a retry line", 60, () => run.saw(/unreachable, retrying for up to 60 s/));
      await until(
        `${OUTAGE_SECONDS} s of outage`,
        60,
        () => Date.now() >= stoppedAt + OUTAGE_SECONDS * 1000,
      );
      await minio.restart();
      const restartedAt = Date.now();
      const status = await run.child.status;
      await run.done;
      const recovery = (Date.now() - restartedAt) / 1000;
      assert.equal(status.code, 0, run.stderr.join("\n"));
      assert.ok(run.saw(/reachable again after/), run.stderr.join("\n"));
      const fs = bucket();
      const runId = runIdOf(run.stdout());
      const state = await fs.readJson<StateDocument>(
        `kt-metadata/${runId}/pipeline_run_state.json`,
      );
      assert.equal(state.status, "Completed");
      assert.ok(await fs.exists("done/last"));
      console.log(
        `outage ${((restartedAt - stoppedAt) / 1000).toFixed(1)} s; run ended ${
          recovery.toFixed(1)
        } s after MinIO was back`,
      );
    } finally {
      await cleanup();
    }
  },
});

Deno.test({
  name: "MinIO stopped longer than KT_STORAGE_RETRY_SECONDS: a clear failure, state not Running",
  ...settings,
  fn: async () => {
    const { minio, run, gate, bucket, cleanup } = await outageRun(8);
    try {
      await until("first to complete", 60, () => run.saw(/ first Completed/));
      await minio.halt();
      const stoppedAt = Date.now();
      await Deno.writeTextFile(gate, "");
      // A done record or a heartbeat that is not written is said and lived with; the run
      // gives up when its state or a task's output cannot be written.
      await until(
        "the run to give up",
        60,
        () =>
          run.stderr.some((line) =>
            /unreachable for 8 s, gave up/.test(line) && !/done record|heartbeat/.test(line)
          ),
      );
      const gaveUp = (Date.now() - stoppedAt) / 1000;
      await minio.restart();
      const status = await run.child.status;
      await run.done;
      assert.equal(status.code, 1, run.stderr.join("\n"));
      const state = await bucket().readJson<StateDocument>(
        `kt-metadata/${runIdOf(run.stdout())}/pipeline_run_state.json`,
      );
      assert.equal(state.status, "Failed");
      assert.ok(state.finished_at);
      // The launcher's state write gives up first (the run's `error`), or the last task's
      // write does (that job's `error`): either way the state says why.
      const reasons = [state.error, ...Object.values(state.jobs).map((job) => job.error)];
      assert.match(reasons.join("\n"), /unreachable for 8 s, gave up/);
      console.log(`gave up ${gaveUp.toFixed(1)} s into the outage (bound 8 s)`);
    } finally {
      await cleanup();
    }
  },
});
