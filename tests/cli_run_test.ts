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
  statuses,
} from "./cli_helpers.ts";
import { until } from "./until.ts";

/** Runs a spec locally with the fixture functions; returns the result and the state. */
async function runSpec(spec: unknown, extra: string[] = []) {
  const { dir, path } = await specFile(spec);
  const dataDir = `${dir}/kt-data`;
  const result = await ktDeno(
    ["run", path, "--data-dir", dataDir, "--functions", FIXTURE_FUNCTIONS, ...extra],
    dir,
  );
  const runId = runIdOf(result.stdout);
  const state = await stateOf(dataDir, runId);
  return {
    ...result,
    dir,
    dataDir,
    runId,
    state,
    cleanup: () => Deno.remove(dir, { recursive: true }),
  };
}

const ok = (name: string) => ({ function: "steps.ok", args: { name } });

function abc(aArgs: Record<string, unknown>, aFunction = "steps.spawn") {
  return {
    name: "abc",
    jobs: [
      { name: "job-a", type: "dynamic", function: aFunction, args: aArgs },
      { name: "job-b", type: "static", dependencies: ["job-a"], tasks: [ok("b")] },
      { name: "job-c", type: "static", dependencies: ["job-b"], tasks: [ok("c")] },
    ],
  };
}

Deno.test("scenarios 1 and 2: a, b, c run in order and the run completes", async () => {
  const run = await runSpec(abc({ jobs: [] }));
  try {
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(statuses(run.state), {
      "job-a": "Completed",
      "job-b": "Completed",
      "job-c": "Completed",
    });
    assert.equal(run.state.status, "Completed");
    const { "job-a": a, "job-b": b, "job-c": c } = run.state.jobs;
    assert.ok(a.finished_at! <= b.submitted_at!, "b starts only after a finished");
    assert.ok(b.finished_at! <= c.submitted_at!, "c starts only after b finished");
    assert.deepEqual(a.direct_descendants, []);
    assert.equal(a.attempts, 1);
  } finally {
    await run.cleanup();
  }
});

Deno.test("scenario 3: job-a fails, b and c are skipped, exit 1", async () => {
  const run = await runSpec(abc({ message: "a broke" }, "steps.fail"));
  try {
    assert.equal(run.code, 1);
    assert.deepEqual(statuses(run.state), {
      "job-a": "Failed",
      "job-b": "SkippedDueToUpstreamFailure",
      "job-c": "SkippedDueToUpstreamFailure",
    });
    assert.equal(run.state.jobs["job-a"].error, "a broke");
    assert.equal(await exists(`${run.dataDir}/done/b`), false);
    assert.match(run.stdout, /Failed/);
  } finally {
    await run.cleanup();
  }
});

Deno.test("scenario 4: job-a2 fails, job-a DescendantFailed, b and c skipped", async () => {
  const run = await runSpec(abc({
    jobs: [{ name: "job-a2", type: "static", tasks: [{ function: "steps.fail" }] }],
  }));
  try {
    assert.equal(run.code, 1);
    assert.deepEqual(statuses(run.state), {
      "job-a": "DescendantFailed",
      "job-b": "SkippedDueToUpstreamFailure",
      "job-c": "SkippedDueToUpstreamFailure",
      "job-a2": "Failed",
    });
    assert.equal(run.state.jobs["job-a2"].parent_job, "job-a");
  } finally {
    await run.cleanup();
  }
});

Deno.test("nested dynamic jobs and a diamond complete, with descendants recorded", async () => {
  const run = await runSpec({
    name: "nested",
    jobs: [
      {
        name: "outer",
        type: "dynamic",
        function: "steps.spawn",
        args: {
          jobs: [{
            name: "inner",
            type: "dynamic",
            function: "steps.spawn",
            args: { jobs: [{ type: "static", tasks: [ok("leaf-0"), ok("leaf-1")] }] },
          }, { name: "side", type: "static", tasks: [ok("side")] }],
        },
      },
      { name: "left", type: "static", dependencies: ["outer"], tasks: [ok("left")] },
      { name: "right", type: "static", dependencies: ["outer"], tasks: [ok("right")] },
      { name: "join", type: "static", dependencies: ["left", "right"], tasks: [ok("join")] },
    ],
  });
  try {
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.state.status, "Completed");
    assert.deepEqual(run.state.jobs.outer.direct_descendants, ["inner", "side"]);
    assert.deepEqual(run.state.jobs.inner.direct_descendants, ["inner-job-0"]);
    assert.equal(run.state.jobs["inner-job-0"].parent_job, "inner");
    const join = run.state.jobs.join;
    for (const side of ["left", "right"]) {
      assert.ok(run.state.jobs[side].finished_at! <= join.submitted_at!);
    }
    assert.ok(run.state.jobs["inner-job-0"].finished_at! <= run.state.jobs.left.submitted_at!);
    for (const name of ["leaf-0", "leaf-1", "side", "left", "right", "join"]) {
      assert.ok(await exists(`${run.dataDir}/done/${name}`), name);
    }
  } finally {
    await run.cleanup();
  }
});

Deno.test("tasks see the pod environment and their own completion index", async () => {
  const run = await runSpec({
    name: "env",
    jobs: [{ name: "fan", type: "static", tasks: [ok("t0"), ok("t1"), ok("t2")] }],
  });
  try {
    assert.equal(run.code, 0, run.stderr);
    for (const index of [0, 1, 2]) {
      const seen = JSON.parse(await Deno.readTextFile(`${run.dataDir}/done/t${index}`));
      assert.deepEqual(seen, {
        job: "fan",
        index,
        runId: run.runId,
        env: {
          DATA_DIR: run.dataDir,
          KT_RUN_ID: run.runId,
          JOB_COMPLETION_INDEX: String(index),
          KT_JOB_NAME: "fan",
        },
      });
    }
  } finally {
    await run.cleanup();
  }
});

Deno.test("a task that exits its process or throws fails only itself", async () => {
  const run = await runSpec({
    name: "iso",
    jobs: [{
      name: "mixed",
      type: "static",
      tasks: [ok("before"), { function: "steps.exit", args: { code: 3 } }, ok("after"), {
        function: "steps.fail",
        args: { message: "thrown" },
      }, ok("last")],
    }],
  }, ["--concurrency", "1"]);
  try {
    assert.equal(run.code, 1);
    const error = run.state.jobs.mixed.error!;
    assert.match(
      error,
      /^2 of 5 tasks failed: task 1: the task ended its process with exit code 3; task 3: thrown$/,
    );
    for (const name of ["before", "after", "last"]) {
      assert.ok(await exists(`${run.dataDir}/done/${name}`), name);
    }
  } finally {
    await run.cleanup();
  }
});

Deno.test("command tasks run any program with the task environment", async () => {
  const run = await runSpec({
    name: "cmd",
    jobs: [{
      name: "shell",
      type: "static",
      tasks: [
        {
          command: [
            "sh",
            "-c",
            'echo "$KT_JOB_NAME $JOB_COMPLETION_INDEX" > "$DATA_DIR/out-$JOB_COMPLETION_INDEX"',
          ],
        },
        {
          command: [
            "sh",
            "-c",
            'echo "$KT_JOB_NAME $JOB_COMPLETION_INDEX" > "$DATA_DIR/out-$JOB_COMPLETION_INDEX"',
          ],
        },
      ],
    }, {
      name: "bad",
      type: "static",
      tasks: [{ command: ["sh", "-c", "echo to the log; exit 7"] }],
    }, {
      name: "missing",
      type: "static",
      tasks: [{ command: ["/no/such/program"] }],
    }],
  });
  try {
    assert.equal(run.code, 1);
    assert.equal(await Deno.readTextFile(`${run.dataDir}/out-1`), "shell 1\n");
    assert.equal(run.state.jobs.shell.status, "Completed");
    assert.equal(run.state.jobs.bad.error, "command sh exited with code 7");
    assert.match(run.state.jobs.missing.error!, /cannot start command \/no\/such\/program/);
    assert.match(run.stderr, /bad\[0\] to the log/);
  } finally {
    await run.cleanup();
  }
});

Deno.test("a missing module or export fails the task, naming both", async () => {
  const run = await runSpec({
    name: "missing",
    jobs: [
      { name: "no-module", type: "static", tasks: [{ function: "nowhere.fn" }] },
      { name: "no-export", type: "static", tasks: [{ function: "steps.nothing_here" }] },
    ],
  });
  try {
    assert.equal(run.code, 1);
    assert.match(
      run.state.jobs["no-module"].error!,
      /module nowhere not found for function nowhere\.fn: tried nowhere\.ts, nowhere\.js, nowhere\.mjs/,
    );
    assert.match(
      run.state.jobs["no-export"].error!,
      /module steps \(.*steps\.ts\) has no exported function nothing_here/,
    );
  } finally {
    await run.cleanup();
  }
});

Deno.test("a dynamic job that returns invalid jobs fails with the reason", async () => {
  const run = await runSpec({
    name: "bad-dyn",
    jobs: [
      {
        name: "d1",
        type: "dynamic",
        function: "steps.spawn",
        args: { jobs: [{ type: "static", dependencies: ["ghost"] }] },
      },
      { name: "d2", type: "dynamic", function: "steps.notJobs" },
    ],
  });
  try {
    assert.equal(run.code, 1);
    assert.match(
      run.state.jobs.d1.error!,
      /invalid: job "d1-job-0", field dependencies: unknown job "ghost"/,
    );
    assert.match(run.state.jobs.d2.error!, /returned object, expected a list of jobs/);
  } finally {
    await run.cleanup();
  }
});

Deno.test("retries rerun a failed task; the state counts them", async () => {
  const run = await runSpec({
    name: "retry",
    jobs: [
      {
        name: "flaky",
        type: "static",
        retries: 2,
        tasks: [{ function: "steps.flaky", args: { name: "f", times: 3 } }],
      },
      {
        name: "too-flaky",
        type: "static",
        retries: 1,
        tasks: [{ function: "steps.flaky", args: { name: "g", times: 3 } }],
      },
    ],
  });
  try {
    assert.equal(run.state.jobs.flaky.status, "Completed");
    assert.equal(run.state.jobs.flaky.task_retries, 2);
    assert.equal(run.state.jobs["too-flaky"].status, "Failed");
    assert.equal(run.state.jobs["too-flaky"].error, "flaky: call 2 of 3");
  } finally {
    await run.cleanup();
  }
});

Deno.test("a job timeout stops its tasks and fails the job", async () => {
  const started = Date.now();
  const run = await runSpec({
    name: "slow",
    jobs: [{
      name: "slow",
      type: "static",
      timeout: 1,
      tasks: [{ function: "steps.sleep", args: { ms: 60_000, name: "s" } }, {
        command: ["sleep", "60"],
      }],
    }],
  });
  try {
    assert.equal(run.code, 1);
    assert.ok(Date.now() - started < 20_000, "the run does not wait for the sleeping tasks");
    assert.match(
      run.state.jobs.slow.error!,
      /2 of 2 tasks failed: task 0: job timed out after 1s; task 1: job timed out after 1s/,
    );
  } finally {
    await run.cleanup();
  }
});

Deno.test("--concurrency and parallelism cap the tasks running at once", async () => {
  // Each task waits until as many as the cap run with it (or all have started), and says
  // the most it saw running at once.
  const tasks = (group: string, count: number, together: number) =>
    Array.from({ length: count }, (_, i) => ({
      function: "steps.together",
      args: { group, name: `${group}${i}`, together, total: count },
    }));
  const run = await runSpec({
    name: "caps",
    jobs: [{ name: "capped", type: "static", tasks: tasks("c", 6, 2) }, {
      name: "narrow",
      type: "static",
      parallelism: 1,
      dependencies: ["capped"],
      tasks: tasks("n", 3, 1),
    }],
  }, ["--concurrency", "2"]);
  try {
    assert.equal(run.code, 0, run.stderr);
    const seen = async (names: string[]) =>
      await Promise.all(
        names.map(async (n) => JSON.parse(await Deno.readTextFile(`${run.dataDir}/seen/${n}`))),
      );
    const capped = await seen(["c0", "c1", "c2", "c3", "c4", "c5"]);
    assert.equal(Math.max(...capped), 2, `seen at once: ${capped}`);
    assert.deepEqual(await seen(["n0", "n1", "n2"]), [1, 1, 1]);
  } finally {
    await run.cleanup();
  }
});

Deno.test("Ctrl-C stops running tasks and leaves a state that says what was interrupted", async () => {
  const { dir, path } = await specFile({
    name: "long",
    jobs: [
      {
        name: "long",
        type: "static",
        tasks: [{
          function: "report_steps.waitForFile",
          args: { path: "never", started: "long-started" },
        }],
      },
      { name: "after", type: "static", dependencies: ["long"], tasks: [ok("after")] },
    ],
  });
  try {
    const child = spawnKtDeno([
      "run",
      path,
      "--data-dir",
      `${dir}/kt-data`,
      "--functions",
      FIXTURE_FUNCTIONS,
    ], dir);
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    const runId = runIdOf(await readUntil(reader, /run id: ktpr\w+/));
    await until("the long task to start", 60, () => exists(`${dir}/kt-data/long-started`));
    const started = Date.now();
    child.kill("SIGINT");
    const status = await child.status;
    await reader.cancel();
    await child.stderr.cancel();
    assert.equal(status.code, 130);
    assert.ok(Date.now() - started < 10_000);
    const state = await stateOf(`${dir}/kt-data`, runId);
    assert.equal(state.status, "Interrupted");
    assert.equal(state.jobs.long.status, "Failed");
    assert.match(state.jobs.long.error!, /^interrupted: SIGINT/);
    assert.equal(state.jobs.after.status, "SkippedDueToUpstreamFailure");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("status shows a finished run as a table and as JSON", async () => {
  const run = await runSpec(abc({ jobs: [] }));
  try {
    const table = await ktDeno(["status", run.runId, "--data-dir", run.dataDir], run.dir);
    assert.equal(table.code, 0);
    assert.match(table.stdout, new RegExp(`run ${run.runId} \\(abc\\): Completed`));
    assert.match(table.stdout, /job-b\s+static\s+Completed\s+1/);
    const json = await ktDeno(
      ["status", run.runId, "--data-dir", run.dataDir, "-o", "json"],
      run.dir,
    );
    assert.deepEqual(JSON.parse(json.stdout), run.state);
    const missing = await ktDeno(["status", "ktpr00000000", "--data-dir", run.dataDir], run.dir);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /no run ktpr00000000 in data dir/);
    const bad = await ktDeno(["status", "nope", "--data-dir", run.dataDir], run.dir);
    assert.equal(bad.code, 2);
  } finally {
    await run.cleanup();
  }
});

Deno.test("an empty pipeline completes at once", async () => {
  const run = await runSpec({ name: "empty" });
  try {
    assert.equal(run.code, 0);
    assert.equal(run.state.status, "Completed");
    assert.deepEqual(run.state.jobs, {});
  } finally {
    await run.cleanup();
  }
});

Deno.test("schema and version print what they say", async () => {
  const schema = await ktDeno(["schema"], Deno.cwd());
  assert.equal(schema.code, 0);
  assert.equal(JSON.parse(schema.stdout).$schema, "https://json-schema.org/draft/2020-12/schema");
  const version = await ktDeno(["version"], Deno.cwd());
  assert.match(version.stdout, /^kt-deno \d+\.\d+\.\d+ \(deno 2\.9\.6, /);
  const flag = await ktDeno(["--version"], Deno.cwd());
  assert.equal(flag.stdout, version.stdout);
});
