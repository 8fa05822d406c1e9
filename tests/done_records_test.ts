/**
 * Done records: a finished task is recorded in the data dir, and a local `resume` of an
 * interrupted job runs only the tasks that have none.
 *
 * @module
 */
import assert from "node:assert/strict";
import { FIXTURE_FUNCTIONS, ktDeno, spawnKtDeno, specFile } from "./cli_helpers.ts";
import { until } from "./until.ts";
import { DoneRecorder, readDoneBlock, readDoneTasks } from "../src/records/task_done.ts";
import { statePath, taskDonePath } from "../src/records/layout.ts";
import { DataFs } from "../src/storage/data_fs.ts";
import { openStorage } from "../src/storage/open.ts";

async function readText(path: string): Promise<string> {
  return await Deno.readTextFile(path).catch(() => "");
}

Deno.test("done records are kept in blocks, merged with what was known, and read back", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kt-done-" });
  try {
    const fs = new DataFs(openStorage(dir));
    const recorder = new DoneRecorder(fs, "ktpr0000done", "load", 10, [3]);
    for (const index of [12, 4, 11, 25]) recorder.add(index);
    await recorder.flush();
    assert.deepEqual(await readDoneBlock(fs, "ktpr0000done", "load", 0), [3, 4]);
    assert.deepEqual(await readDoneBlock(fs, "ktpr0000done", "load", 10), [11, 12]);
    assert.deepEqual(await readDoneBlock(fs, "ktpr0000done", "load", 30), []);
    assert.deepEqual(
      [...await readDoneTasks(fs, "ktpr0000done", "load")].sort((a, b) => a - b),
      [3, 4, 11, 12, 25],
    );
    assert.deepEqual([...await readDoneTasks(fs, "ktpr0000done", "other")], []);
    assert.ok(await fs.exists(taskDonePath("ktpr0000done", "load", 20)));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("resume of an interrupted job skips the tasks recorded done", async () => {
  const marks = Array.from({ length: 4 }, (_, i) => ({
    function: "day_two.mark",
    args: { name: `m${i}` },
  }));
  const { dir, path } = await specFile({
    name: "resumed",
    jobs: [{
      name: "mixed",
      type: "static",
      tasks: [...marks, {
        function: "day_two.waitFor",
        args: { path: "go", line: "waiting for go" },
      }],
    }],
  });
  const dataDir = `${dir}/kt-data`;
  const args = ["--data-dir", dataDir, "--functions", FIXTURE_FUNCTIONS];
  const run = spawnKtDeno(["run", path, ...args], dir);
  try {
    let out = "";
    const reader = run.stdout.pipeThrough(new TextDecoderStream()).getReader();
    await until("the run id", 60, async () => {
      out += (await reader.read()).value ?? "";
      return /run id: \S+/.test(out);
    });
    const runId = out.match(/run id: (\S+)/)![1];
    const fs = new DataFs(openStorage(dataDir));
    await until(
      "four tasks recorded done",
      60,
      async () => (await readDoneTasks(fs, runId, "mixed")).size === 4,
    );
    run.kill("SIGKILL");
    await run.status;
    await Promise.all([reader.cancel(), run.stderr.cancel()]);

    await Deno.writeTextFile(`${dataDir}/go`, "");
    const resumed = await ktDeno(["resume", runId, ...args], dir);
    assert.equal(resumed.code, 0, resumed.stderr);
    for (let i = 0; i < 4; i++) {
      assert.equal(await readText(`${dataDir}/marks/m${i}`), `mixed[${i}]\n`, `task ${i} ran once`);
    }
    // The job ended well: the state says so, and the last task's record is not needed.
    const state = await fs.readJson<{ jobs: Record<string, { status: string }> }>(
      statePath(runId),
    );
    assert.equal(state.jobs.mixed.status, "Completed");
    assert.deepEqual([...await readDoneTasks(fs, runId, "mixed")].sort(), [0, 1, 2, 3]);
    const log = await readText(`${dataDir}/kt-metadata/${runId}/logs/mixed/4.log`);
    assert.match(log, /saw go/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
