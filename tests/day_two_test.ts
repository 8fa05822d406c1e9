/**
 * Operating runs from the command line, as a user would: task logs (`logs`, `-f`), `list`,
 * liveness in `status`, `cancel` and `resume` of local runs. Every kt-deno is a separate
 * process; tests wait on what the runs write, never on the clock.
 */
import assert from "node:assert/strict";
import { stringify } from "yaml";
import {
  FIXTURE_FUNCTIONS,
  ktDeno,
  readUntil,
  runIdOf,
  spawnKtDeno as spawn,
  specFile,
  stateOf,
  statuses,
} from "./cli_helpers.ts";
import { until } from "./until.ts";

async function readText(path: string): Promise<string> {
  return await Deno.readTextFile(path).catch(() => "");
}

/** Reads a child's stdout until the run id appears. */
async function runIdFrom(child: Deno.ChildProcess): Promise<string> {
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const out = await readUntil(reader, /run id: ktpr[0-9a-f]{8}/);
  void (async () => {
    while (!(await reader.read()).done);
  })();
  return runIdOf(out);
}

async function finish(child: Deno.ChildProcess): Promise<{ code: number; stderr: string }> {
  const [status, stderr] = await Promise.all([
    child.status,
    new Response(child.stderr).text(),
  ]);
  return { code: status.code, stderr };
}

const wait = (name: string, path: string) => ({
  name,
  type: "static",
  tasks: [{ function: "day_two.waitFor", args: { path, line: `waiting for ${path}` } }],
});

Deno.test("logs: a finished task's log, one job or one task; failed tasks' last lines in run and status", async () => {
  const { dir, path } = await specFile({
    name: "talk",
    jobs: [
      {
        name: "talk",
        type: "static",
        tasks: [
          { function: "day_two.chatty", args: { lines: ["one", "two"] } },
          { command: ["sh", "-c", "echo from a command"] },
        ],
      },
      {
        name: "bad",
        type: "static",
        tasks: [{ function: "day_two.chatty", args: { lines: ["before failing"], fail: "nope" } }],
      },
    ],
  });
  const dataDir = `${dir}/kt-data`;
  try {
    const run = await ktDeno(
      ["run", path, "--data-dir", dataDir, "--functions", FIXTURE_FUNCTIONS],
      dir,
    );
    assert.equal(run.code, 1, run.stderr);
    assert.match(
      run.stderr,
      /bad: nope\n\s+last lines of bad\[0\]:\n\s+before failing\n\s+to stderr/,
    );
    const runId = runIdOf(run.stdout);
    // stdout and stderr are two pipes: lines of each keep their order, not across them.
    const ordered = (text: string) =>
      [...text.trimEnd().split("\n").filter((l) => !l.endsWith("to stderr")), "| stderr:"]
        .concat(text.split("\n").filter((l) => l.endsWith("to stderr")));
    assert.deepEqual(
      ordered(await readText(`${dataDir}/kt-metadata/${runId}/logs/talk/0.log`)),
      ["one", "two", "| stderr:", "to stderr"],
    );

    const all = await ktDeno(["logs", runId, "--data-dir", dataDir], dir);
    assert.equal(all.code, 0, all.stderr);
    assert.deepEqual(ordered(all.stdout), [
      "talk[0] one",
      "talk[0] two",
      "talk[1] from a command",
      "bad[0] before failing",
      "bad[0] kt-deno task: nope",
      "| stderr:",
      "talk[0] to stderr",
      "bad[0] to stderr",
    ]);
    const one = await ktDeno(["logs", runId, "talk/1", "--data-dir", dataDir], dir);
    assert.equal(one.stdout, "talk[1] from a command\n");
    const job = await ktDeno(["logs", runId, "bad", "--data-dir", dataDir], dir);
    assert.deepEqual(ordered(job.stdout), [
      "bad[0] before failing",
      "bad[0] kt-deno task: nope",
      "| stderr:",
      "bad[0] to stderr",
    ]);

    const status = await ktDeno(["status", runId, "--data-dir", dataDir], dir);
    assert.match(status.stdout, /: Failed\n/);
    assert.match(
      status.stdout,
      /last lines of bad\[0\]:\n(\s+(before failing|kt-deno task: nope|to stderr)(\n|$)){3}/,
    );

    const unknown = await ktDeno(["logs", runId, "nojob", "--data-dir", dataDir], dir);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /no job nojob in run .*its jobs: talk, bad/);
    const badTarget = await ktDeno(["logs", runId, "talk/x", "--data-dir", dataDir], dir);
    assert.equal(badTarget.code, 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("logs -f shows a running task's lines before it ends, and stops when the run ends", async () => {
  const { dir, path } = await specFile({ name: "follow", jobs: [wait("slow", "go")] });
  const dataDir = `${dir}/kt-data`;
  const run = spawn(["run", path, "--data-dir", dataDir, "--functions", FIXTURE_FUNCTIONS], dir);
  try {
    const runId = await runIdFrom(run);
    await until(
      "the state document",
      60,
      async () =>
        (await readText(`${dataDir}/kt-metadata/${runId}/pipeline_run_state.json`)) !== "",
    );
    const follower = spawn(["logs", runId, "-f", "--data-dir", dataDir], dir);
    const reader = follower.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let seen = await readUntil(reader, /slow\[0\] waiting for go\n/);
    // The task is still waiting for this file: the line came while it ran.
    await Deno.writeTextFile(`${dataDir}/go`, "");
    for (let r = await reader.read(); !r.done; r = await reader.read()) seen += r.value;
    const followed = await finish(follower);
    assert.equal(followed.code, 0, followed.stderr);
    assert.equal(seen, "slow[0] waiting for go\nslow[0] saw go\n");
    assert.equal((await finish(run)).code, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("list shows three runs of two pipelines, newest first", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kt-list-test-" });
  const dataDir = `${dir}/kt-data`;
  const runs: { id: string; pipeline: string; status: string }[] = [];
  try {
    for (
      const [pipeline, fn, status] of [
        ["alpha", "steps.noop", "Completed"],
        ["alpha", "steps.fail", "Failed"],
        ["beta", "steps.noop", "Completed"],
      ]
    ) {
      const path = `${dir}/${pipeline}-${runs.length}.yaml`;
      await Deno.writeTextFile(
        path,
        stringify({
          name: pipeline,
          jobs: [
            { name: "first", type: "static", tasks: [{ function: fn }] },
            { name: "second", type: "static", dependencies: ["first"], tasks: [] },
          ],
        }),
      );
      const run = await ktDeno(
        ["run", path, "--data-dir", dataDir, "--functions", FIXTURE_FUNCTIONS],
        dir,
      );
      runs.push({ id: runIdOf(run.stdout), pipeline, status });
    }
    const json = await ktDeno(["list", "--data-dir", dataDir, "-o", "json"], dir);
    assert.equal(json.code, 0, json.stderr);
    const listed = JSON.parse(json.stdout) as {
      run_id: string;
      pipeline_name: string;
      status: string;
      jobs_completed: number;
      jobs_total: number;
      duration_seconds: number;
    }[];
    assert.deepEqual(
      listed.map((r) => [r.run_id, r.pipeline_name, r.status, r.jobs_completed, r.jobs_total]),
      [
        [runs[2].id, "beta", "Completed", 2, 2],
        [runs[1].id, "alpha", "Failed", 0, 2],
        [runs[0].id, "alpha", "Completed", 2, 2],
      ],
    );
    const table = await ktDeno(["list", "--data-dir", dataDir], dir);
    const lines = table.stdout.trimEnd().split("\n");
    assert.match(lines[0], /^RUN\s+PIPELINE\s+STATUS\s+STARTED\s+DURATION\s+JOBS$/);
    assert.match(
      lines[1],
      new RegExp(`^${runs[2].id}\\s+beta\\s+Completed\\s+\\S+ \\S+\\s+\\d+s\\s+2/2$`),
    );
    assert.match(lines[2], new RegExp(`^${runs[1].id}\\s+alpha\\s+Failed\\s+.*0/2$`));
    const empty = await ktDeno(["list", "--data-dir", `${dir}/nothing`], dir);
    assert.match(empty.stdout, /no runs in data dir/);
    const bad = await ktDeno(["list", "--data-dir", dataDir, "-o", "yaml"], dir);
    assert.equal(bad.code, 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const BROKEN = `
export async function mark(args: { name: string }, ctx: { fs: { append(p: string, t: string): Promise<void> } }) {
  await ctx.fs.append("marks/" + args.name, "x\\n");
}
export async function work(args: { name: string }, ctx: { fs: { append(p: string, t: string): Promise<void> } }) {
  await ctx.fs.append("marks/" + args.name, "x\\n");
  throw new Error("not fixed yet");
}
export async function plan(_args: unknown, ctx: { fs: { append(p: string, t: string): Promise<void> } }) {
  await ctx.fs.append("marks/plan", "x\\n");
  return [{ name: "child", type: "static", tasks: [{ function: "fixable.work", args: { name: "child" } }] }];
}
`;

Deno.test("resume: a fixed run reruns only the failed job and what depends on it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kt-resume-test-" });
  const functions = `${dir}/kt_functions`;
  const dataDir = `${dir}/kt-data`;
  const spec = {
    name: "fixable",
    jobs: [
      { name: "plan", type: "dynamic", function: "fixable.plan" },
      {
        name: "after",
        type: "static",
        dependencies: ["plan"],
        tasks: [{ function: "fixable.mark", args: { name: "after" } }],
      },
      {
        name: "apart",
        type: "static",
        tasks: [{ function: "fixable.mark", args: { name: "apart" } }],
      },
    ],
  };
  const specPath = `${dir}/pipeline.yaml`;
  const marks = async () =>
    Object.fromEntries(
      await Promise.all(
        ["plan", "child", "after", "apart"].map(async (name) =>
          [name, (await readText(`${dataDir}/marks/${name}`)).length / 2] as const
        ),
      ),
    );
  try {
    await Deno.mkdir(functions);
    await Deno.writeTextFile(`${functions}/fixable.ts`, BROKEN);
    await Deno.writeTextFile(specPath, stringify(spec));
    const first = await ktDeno(
      ["run", specPath, "--data-dir", dataDir, "--functions", functions],
      dir,
    );
    assert.equal(first.code, 1, first.stderr);
    const runId = runIdOf(first.stdout);
    assert.deepEqual(statuses(await stateOf(dataDir, runId)), {
      plan: "DescendantFailed",
      after: "SkippedDueToUpstreamFailure",
      apart: "Completed",
      child: "Failed",
    });
    assert.deepEqual(await marks(), { plan: 1, child: 1, after: 0, apart: 1 });

    // A changed spec is refused, and nothing runs.
    await Deno.writeTextFile(specPath, stringify({ ...spec, jobs: spec.jobs.slice(0, 2) }));
    const changed = await ktDeno(["resume", runId, "--data-dir", dataDir], dir);
    assert.equal(changed.code, 2);
    assert.match(changed.stderr, /spec .* changed since run .* started.*kt-deno run /);
    assert.equal((await stateOf(dataDir, runId)).status, "Failed");
    await Deno.writeTextFile(specPath, stringify(spec));

    await Deno.writeTextFile(
      `${functions}/fixable.ts`,
      BROKEN.replace('throw new Error("not fixed yet");', ""),
    );
    const resumed = await ktDeno(["resume", runId, "--data-dir", dataDir], dir);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stdout, new RegExp(`run id: ${runId} \\(resumed\\)`));
    const state = await stateOf(dataDir, runId);
    assert.equal(state.status, "Completed");
    assert.deepEqual(await marks(), { plan: 1, child: 2, after: 1, apart: 1 });
    assert.deepEqual(
      Object.fromEntries(Object.values(state.jobs).map((j) => [j.name, j.attempts])),
      { plan: 1, after: 1, apart: 1, child: 2 },
    );
    assert.equal(state.jobs.child.error, undefined);

    const again = await ktDeno(["resume", runId, "--data-dir", dataDir], dir);
    assert.equal(again.code, 2);
    assert.match(
      again.stderr,
      /cannot resume: run .* already Completed; to run the pipeline again/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const LAST_FAILS = `
export async function step(args: { i: number }, ctx: { fs: { exists(p: string): Promise<boolean>; write(p: string, t: string): Promise<void> } }) {
  if (args.i === 999 && !await ctx.fs.exists("fixed")) throw new Error("not fixed yet");
  await ctx.fs.write("out/" + args.i, String(args.i));
}
`;

Deno.test("resume: a 1,000-task job, its task list kept in a file of its own, reruns its failed task", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kt-resume-long-" });
  const functions = `${dir}/kt_functions`;
  const dataDir = `${dir}/kt-data`;
  const tasks = Array.from({ length: 1_000 }, (_, i) => ({ function: "long.step", args: { i } }));
  const specPath = `${dir}/pipeline.yaml`;
  try {
    await Deno.mkdir(functions);
    await Deno.writeTextFile(`${functions}/long.ts`, LAST_FAILS);
    await Deno.writeTextFile(
      specPath,
      stringify({ name: "long", jobs: [{ name: "wide", type: "static", tasks }] }),
    );
    const args = ["--data-dir", dataDir, "--functions", functions];
    const first = await ktDeno(["run", specPath, ...args], dir);
    assert.equal(first.code, 1, first.stderr);
    const runId = runIdOf(first.stdout);
    assert.ok((await Deno.stat(`${dataDir}/kt-metadata/${runId}/spec_tasks/wide.json`)).isFile);
    assert.equal(await readText(`${dataDir}/out/999`), "");
    assert.equal(await readText(`${dataDir}/out/998`), "998");
    await Deno.writeTextFile(`${dataDir}/fixed`, "");
    const second = await ktDeno(["resume", runId, ...args], dir);
    assert.equal(second.code, 0, second.stderr);
    assert.equal(await readText(`${dataDir}/out/999`), "999");
    const state = await stateOf(dataDir, runId);
    assert.equal(state.status, "Completed");
    assert.deepEqual(state.jobs.wide.tasks, tasks);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a launcher killed with SIGKILL shows as gone in status; resume completes the run", async () => {
  const { dir, path } = await specFile({
    name: "killed",
    jobs: [
      wait("slow", "go"),
      {
        name: "then",
        type: "static",
        dependencies: ["slow"],
        tasks: [{ function: "day_two.mark", args: { name: "then" } }],
      },
    ],
  });
  const dataDir = `${dir}/kt-data`;
  const run = spawn(["run", path, "--data-dir", dataDir, "--functions", FIXTURE_FUNCTIONS], dir);
  try {
    const runId = await runIdFrom(run);
    const log = `${dataDir}/kt-metadata/${runId}/logs/slow/0.log`;
    await until("the task to start", 60, async () => (await readText(log)).includes("waiting"));

    const live = await ktDeno(["resume", runId, "--data-dir", dataDir], dir);
    assert.equal(live.code, 2);
    assert.match(live.stderr, /cannot resume: run .* is still running.*launcher pid \d+ on/);
    const liveStatus = await ktDeno(["status", runId, "--data-dir", dataDir], dir);
    assert.match(liveStatus.stdout, /: Running\n/);

    run.kill("SIGKILL");
    await run.status;
    await run.stderr.cancel();
    const status = await ktDeno(["status", runId, "--data-dir", dataDir], dir);
    assert.match(status.stdout, /: Running \(launcher gone: process \d+ on this host has exited\)/);
    assert.match(status.stdout, new RegExp(`kt-deno resume ${runId}`));
    const listed = await ktDeno(["list", "--data-dir", dataDir], dir);
    assert.match(listed.stdout, /Running \(launcher gone/);

    await Deno.writeTextFile(`${dataDir}/go`, "");
    const resumed = await ktDeno(["resume", runId, "--data-dir", dataDir], dir);
    assert.equal(resumed.code, 0, resumed.stderr);
    const state = await stateOf(dataDir, runId);
    assert.equal(state.status, "Completed");
    assert.equal(state.jobs.slow.attempts, 2);
    assert.equal(await readText(`${dataDir}/marks/then`), "then[0]\n");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a silent heartbeat makes a Running run look gone after the threshold", async () => {
  const { dir, path } = await specFile({ name: "silent", jobs: [wait("slow", "go")] });
  const dataDir = `${dir}/kt-data`;
  const run = spawn(["run", path, "--data-dir", dataDir, "--functions", FIXTURE_FUNCTIONS], dir, {
    KT_HEARTBEAT_SECONDS: "3600",
  });
  try {
    const runId = await runIdFrom(run);
    const log = `${dataDir}/kt-metadata/${runId}/logs/slow/0.log`;
    await until("the task to start", 60, async () => (await readText(log)).includes("waiting"));
    // The launcher lives on, as if on another host: its heartbeat file says another host
    // and an old beat, which only the heartbeat threshold can judge.
    const beatPath = `${dataDir}/kt-metadata/${runId}/heartbeat.json`;
    const beat = JSON.parse(await readText(beatPath));
    await Deno.writeTextFile(
      beatPath,
      JSON.stringify({
        ...beat,
        host: "elsewhere",
        heartbeat_at: new Date(Date.now() - 185_000).toISOString(),
      }),
    );
    const status = await ktDeno(["status", runId, "--data-dir", dataDir], dir, {
      KT_HEARTBEAT_STALE_SECONDS: "120",
    });
    assert.match(status.stdout, /: Running \(no heartbeat for 3m\d*s?: launcher gone\?\)/);
    await Deno.writeTextFile(`${dataDir}/go`, "");
    assert.equal((await finish(run)).code, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cancel stops a local run: Cancelled, its running job says so; a second cancel is a no-op", async () => {
  const { dir, path } = await specFile({
    name: "stoppable",
    jobs: [
      wait("slow", "go"),
      {
        name: "then",
        type: "static",
        dependencies: ["slow"],
        tasks: [{ function: "day_two.mark", args: { name: "then" } }],
      },
    ],
  });
  const dataDir = `${dir}/kt-data`;
  const run = spawn(["run", path, "--data-dir", dataDir, "--functions", FIXTURE_FUNCTIONS], dir);
  try {
    const runId = await runIdFrom(run);
    const log = `${dataDir}/kt-metadata/${runId}/logs/slow/0.log`;
    await until("the task to start", 60, async () => (await readText(log)).includes("waiting"));
    const cancel = await ktDeno(["cancel", runId, "--data-dir", dataDir], dir);
    assert.equal(cancel.code, 0, cancel.stderr);
    assert.match(cancel.stdout, /Cancelled/);
    assert.equal((await finish(run)).code, 1);
    const state = await stateOf(dataDir, runId);
    assert.equal(state.status, "Cancelled");
    assert.equal(state.jobs.slow.status, "Failed");
    assert.match(state.jobs.slow.error!, /^cancelled: by kt-deno cancel/);
    assert.equal(state.jobs.then.status, "SkippedDueToUpstreamFailure");

    const second = await ktDeno(["cancel", runId, "--data-dir", dataDir], dir);
    assert.equal(second.code, 0);
    assert.match(second.stdout, /already Cancelled; nothing to cancel/);
    const listed = await ktDeno(["list", "--data-dir", dataDir, "-o", "json"], dir);
    assert.equal(JSON.parse(listed.stdout)[0].status, "Cancelled");

    await Deno.writeTextFile(`${dataDir}/go`, "");
    const resumed = await ktDeno(["resume", runId, "--data-dir", dataDir], dir);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.equal((await stateOf(dataDir, runId)).status, "Completed");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cancel of a run whose launcher is gone marks it Cancelled", async () => {
  const { dir, path } = await specFile({ name: "orphan", jobs: [wait("slow", "go")] });
  const dataDir = `${dir}/kt-data`;
  const run = spawn(["run", path, "--data-dir", dataDir, "--functions", FIXTURE_FUNCTIONS], dir);
  try {
    const runId = await runIdFrom(run);
    const log = `${dataDir}/kt-metadata/${runId}/logs/slow/0.log`;
    await until("the task to start", 60, async () => (await readText(log)).includes("waiting"));
    run.kill("SIGKILL");
    await run.status;
    await run.stderr.cancel();
    await Deno.writeTextFile(`${dataDir}/go`, "");
    const cancel = await ktDeno(["cancel", runId, "--data-dir", dataDir], dir);
    assert.equal(cancel.code, 0, cancel.stderr);
    assert.match(cancel.stdout, /Cancelled \(its launcher was gone/);
    const state = await stateOf(dataDir, runId);
    assert.equal(state.status, "Cancelled");
    assert.match(state.jobs.slow.error!, /^cancelled: /);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("every task gets the nine environment variables; the state has kube-transform's empty fields", async () => {
  const { dir, path } = await specFile({
    name: "env",
    jobs: [
      {
        name: "fn-job",
        type: "static",
        tasks: [
          { function: "day_two.env", args: { name: "zero" } },
          { function: "day_two.env", args: { name: "one" } },
        ],
      },
      {
        name: "cmd-job",
        type: "static",
        tasks: [{ command: ["sh", "-c", 'env > "$DATA_DIR/cmd.env"'], args: { x: 1 } }],
      },
      { name: "dyn", type: "dynamic", function: "steps.spawn" },
    ],
  });
  const dataDir = `${dir}/kt-data`;
  const functions = FIXTURE_FUNCTIONS;
  try {
    const run = await ktDeno(["run", path, "--data-dir", dataDir, "--functions", functions], dir);
    assert.equal(run.code, 0, run.stderr);
    const runId = runIdOf(run.stdout);
    const expected = (job: string, index: number, args: unknown) => ({
      DATA_DIR: dataDir,
      KT_RUN_ID: runId,
      KT_JOB_NAME: job,
      JOB_COMPLETION_INDEX: String(index),
      KT_JOB_ARGS: JSON.stringify(args),
      pipeline_run_id: runId,
      JOB_INDEX: String(index),
      KT_ORCH_SPEC_PATH: `kt-metadata/${runId}/dynamic_job_output/${job}.json`,
      KT_FUNCTIONS_DIR: functions,
    });
    for (const [name, index] of [["zero", 0], ["one", 1]] as const) {
      assert.deepEqual(
        JSON.parse(await readText(`${dataDir}/env/${name}.json`)),
        expected("fn-job", index, { name }),
      );
    }
    const cmdEnv = Object.fromEntries(
      (await readText(`${dataDir}/cmd.env`)).trim().split("\n").map((line) => {
        const eq = line.indexOf("=");
        return [line.slice(0, eq), line.slice(eq + 1)];
      }),
    );
    for (const [key, value] of Object.entries(expected("cmd-job", 0, { x: 1 }))) {
      assert.equal(cmdEnv[key], value, key);
    }

    const state = await stateOf(dataDir, runId);
    const raw = state.jobs as unknown as Record<string, Record<string, unknown>>;
    assert.equal(raw["fn-job"].function, null);
    assert.equal(raw["fn-job"].args, null);
    assert.ok(Array.isArray(raw["fn-job"].tasks));
    assert.equal(raw.dyn.tasks, null);
    assert.equal(raw.dyn.function, "steps.spawn");
    assert.deepEqual(raw.dyn.args, {});
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
