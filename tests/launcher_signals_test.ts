/**
 * A local launcher never dies silently: with its stdout or stderr closed (`| head -1`,
 * `2>&-`) it drives the run to its end; SIGPIPE changes nothing; SIGHUP (a closed
 * terminal) and SIGTERM stop the run as Ctrl-C does, saying which signal it was, with the
 * report written and the temporary folders removed; `cancel` still says it was a cancel.
 * Each test waits on what the run writes, never on the clock.
 */
import assert from "node:assert/strict";
import {
  exists,
  FIXTURE_FUNCTIONS,
  ktDeno,
  readUntil,
  runIdOf,
  spawnKtDeno,
  specFile,
  stateOf,
} from "./cli_helpers.ts";
import { until } from "./until.ts";

const PY_FUNCTIONS = new URL("./fixtures/py_functions", import.meta.url).pathname;

/** A run whose first job waits for `go` in the data dir; a second job runs after it. */
const gatedSpec = {
  name: "gated",
  jobs: [
    {
      name: "gate",
      type: "static",
      tasks: [{ function: "report_steps.waitForFile", args: { path: "go", started: "started" } }],
    },
    {
      name: "after",
      type: "static",
      dependencies: ["gate"],
      tasks: [{ command: ["sh", "-c", "for i in 1 2 3; do echo after line $i; done"] }],
    },
  ],
};

async function runIdFrom(child: Deno.ChildProcess): Promise<{
  runId: string;
  reader: ReadableStreamDefaultReader<string>;
}> {
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  return { runId: runIdOf(await readUntil(reader, /run id: ktpr[0-9a-f]{8}/)), reader };
}

Deno.test("| head -1 and a closed stderr: the launcher drives the run to its end, exit 0", async () => {
  const { dir, path } = await specFile(gatedSpec);
  const data = `${dir}/kt-data`;
  try {
    const child = spawnKtDeno(
      ["run", path, "--data-dir", data, "--functions", FIXTURE_FUNCTIONS],
      dir,
    );
    const { runId, reader } = await runIdFrom(child);
    // The reader of both pipes goes away, as `head -1` does after its line.
    await reader.cancel();
    await child.stderr.cancel();
    await until("the gate task to start", 60, () => exists(`${data}/started`));
    await Deno.writeTextFile(`${data}/go`, "");
    const status = await child.status;
    assert.equal(status.code, 0);
    const state = await stateOf(data, runId);
    assert.equal(state.status, "Completed");
    const log = await Deno.readTextFile(`${data}/kt-metadata/${runId}/logs/after/0.log`);
    assert.match(log, /after line 3/);
    assert.ok(await exists(`${data}/kt-metadata/${runId}/report.html`));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SIGPIPE does not stop a launcher: the run completes", async () => {
  const { dir, path } = await specFile(gatedSpec);
  const data = `${dir}/kt-data`;
  try {
    const child = spawnKtDeno(
      ["run", path, "--data-dir", data, "--functions", FIXTURE_FUNCTIONS],
      dir,
    );
    const { runId, reader } = await runIdFrom(child);
    await until("the gate task to start", 60, () => exists(`${data}/started`));
    child.kill("SIGPIPE");
    await Deno.writeTextFile(`${data}/go`, "");
    const [status, stderr] = await Promise.all([child.status, new Response(child.stderr).text()]);
    await reader.cancel();
    assert.equal(status.code, 0, stderr);
    assert.equal((await stateOf(data, runId)).status, "Completed");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

for (
  const [signal, code, reason] of [
    ["SIGHUP", 129, /^interrupted: SIGHUP \(the terminal was closed\)/],
    ["SIGTERM", 143, /^interrupted: terminated by SIGTERM/],
  ] as const
) {
  Deno.test(`${signal} stops a run as Ctrl-C does: Interrupted, report written, temp folders gone, exit ${code}`, async () => {
    const { dir, path } = await specFile({
      name: "hang-up",
      jobs: [{
        name: "sleeper",
        type: "static",
        tasks: [{ function: "steps.sleep", args: { seconds: 600, target: "started" } }],
      }, { name: "after", type: "static", dependencies: ["sleeper"] }],
    });
    const data = `${dir}/kt-data`;
    const tmp = `${dir}/tmp`;
    await Deno.mkdir(tmp);
    try {
      const child = spawnKtDeno(
        ["run", path, "--data-dir", data, "--functions", PY_FUNCTIONS],
        dir,
        { TMPDIR: tmp },
      );
      const { runId, reader } = await runIdFrom(child);
      await until("the Python task to start", 60, () => exists(`${data}/started`));
      assert.ok([...Deno.readDirSync(tmp)].some((e) => e.name.startsWith("kt-deno-python-")));
      child.kill(signal);
      // A closed terminal may hang up twice (the terminal and its session leader): the second
      // must not cut the stopping short.
      if (signal === "SIGHUP") setTimeout(() => child.kill(signal), 1);
      const [status, stderr] = await Promise.all([child.status, new Response(child.stderr).text()]);
      await reader.cancel();
      assert.equal(status.code, code, stderr);
      const state = await stateOf(data, runId);
      assert.equal(state.status, "Interrupted");
      assert.match(state.jobs.sleeper.error!, reason);
      assert.equal(state.jobs.after.status, "SkippedDueToUpstreamFailure");
      assert.ok(await exists(`${data}/kt-metadata/${runId}/report.html`));
      assert.deepEqual([...Deno.readDirSync(tmp)].map((e) => e.name), []);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("cancel still says it was a cancel, and exits the launcher 1", async () => {
  const { dir, path } = await specFile(gatedSpec);
  const data = `${dir}/kt-data`;
  try {
    const child = spawnKtDeno(
      ["run", path, "--data-dir", data, "--functions", FIXTURE_FUNCTIONS],
      dir,
    );
    const { runId, reader } = await runIdFrom(child);
    await until("the gate task to start", 60, () => exists(`${data}/started`));
    const cancel = await ktDeno(["cancel", runId, "--data-dir", data], dir);
    assert.equal(cancel.code, 0, cancel.stderr);
    const [status] = await Promise.all([child.status, child.stderr.cancel(), reader.cancel()]);
    assert.equal(status.code, 1);
    const state = await stateOf(data, runId);
    assert.equal(state.status, "Cancelled");
    assert.match(state.jobs.gate.error!, /^cancelled: by kt-deno cancel/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
