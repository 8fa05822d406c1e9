/**
 * A packed pod (`tasks_per_pod` > 1): `kt-deno task` run here as a process with a pod's
 * environment, over task files laid out as the controller writes them. Pod k runs tasks
 * `[k·N, (k+1)·N)`, each with its own index, log, time, retries and error; a failing task
 * does not stop its pod-mates; a pod run again runs only the tasks without a done record.
 */
import assert from "node:assert/strict";
import { podTimePath, taskErrorPath, taskLogPath } from "../src/records/layout.ts";
import { readDoneBlock } from "../src/records/task_done.ts";
import { layOutTasks, type TaskDefinition } from "../src/records/task_files.ts";
import { DataFs } from "../src/storage/data_fs.ts";
import { LocalDriver } from "../src/storage/local.ts";
import { VERSION } from "../src/version.ts";
import { FIXTURE_FUNCTIONS, ktDeno, spawnKtDeno } from "./cli_helpers.ts";
import { until } from "./until.ts";
import { ktJob, type RunSettings, taskProgress } from "../src/k8s/manifests.ts";
import type { JobState } from "../src/engine/state.ts";

const RUN = "ktpr0000pack";

async function layOut(job: string, definitions: TaskDefinition[]) {
  const dir = await Deno.makeTempDir({ prefix: "kt-packed-pod-" });
  const files = layOutTasks(RUN, job, definitions.length, () => definitions);
  for (const { path, text } of files.files) {
    await Deno.mkdir(`${dir}/${path.slice(0, path.lastIndexOf("/"))}`, { recursive: true });
    await Deno.writeTextFile(`${dir}/${path}`, text);
  }
  return { dir, perChunk: files.perChunk, count: definitions.length };
}

function pod(
  where: { dir: string; perChunk: number; count: number },
  job: string,
  index: number,
  env: Record<string, string>,
) {
  return ktDeno(["task"], where.dir, {
    KT_RUN_ID: RUN,
    KT_JOB_NAME: job,
    JOB_COMPLETION_INDEX: String(index),
    DATA_DIR: where.dir,
    KT_VERSION: VERSION,
    KT_TASKS_PER_CHUNK: String(where.perChunk),
    KT_FUNCTIONS_DIR: FIXTURE_FUNCTIONS,
    KT_TASK_COUNT: String(where.count),
    ...env,
  });
}

const mark = (name: string): TaskDefinition => ({
  kind: "static",
  function: "day_two.mark",
  args: { name },
});

async function text(path: string): Promise<string> {
  return await Deno.readTextFile(path).catch(() => "");
}

Deno.test("pod k runs tasks [k·N, (k+1)·N), each with its own index, log, time and done record", async () => {
  const tasks = Array.from({ length: 7 }, (_, i): TaskDefinition => ({
    kind: "static",
    function: "steps.ok",
    args: { name: `t${i}` },
  }));
  tasks[4] = mark("m4");
  const where = await layOut("packed", tasks);
  try {
    const result = await pod(where, "packed", 1, { KT_TASKS_PER_POD: "3", KT_POD_WORKERS: "2" });
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /pod 1 runs tasks 3-5 of packed/);
    assert.match(result.stdout, /^packed\[4\] marked m4$/m);
    for (const i of [3, 5]) {
      const done = JSON.parse(await text(`${where.dir}/done/t${i}`));
      assert.equal(done.index, i);
      assert.equal(done.env.JOB_COMPLETION_INDEX, String(i));
    }
    assert.equal(await text(`${where.dir}/marks/m4`), "packed[4]\n");
    assert.match(await text(`${where.dir}/${taskLogPath(RUN, "packed", 4)}`), /marked m4/);
    for (const i of [0, 1, 2, 6]) {
      assert.equal(await text(`${where.dir}/done/t${i}`), "", `task ${i} is another pod's`);
    }
    for (const i of [3, 4, 5]) {
      const [start, end, ok] = JSON.parse(
        await text(`${where.dir}/${podTimePath(RUN, "packed", i)}`),
      );
      assert.ok(start <= end);
      assert.equal(ok, 1);
    }
    const fs = new DataFs(new LocalDriver(where.dir));
    assert.deepEqual(await readDoneBlock(fs, RUN, "packed", 3), [3, 4, 5]);
    const last = await pod(where, "packed", 2, { KT_TASKS_PER_POD: "3" });
    assert.equal(last.code, 0, last.stderr);
    assert.match(last.stdout, /pod 2 runs tasks 6-6 of packed/);
    assert.equal(JSON.parse(await text(`${where.dir}/done/t6`)).index, 6);
  } finally {
    await Deno.remove(where.dir, { recursive: true });
  }
});

Deno.test("a failing task does not stop its pod-mates; the pod exits 1; a rerun runs only it", async () => {
  const tasks = [
    mark("a"),
    { kind: "static" as const, function: "steps.fail", args: { message: "bad row" } },
    mark("c"),
    { kind: "static" as const, function: "steps.flaky", args: { name: "f", times: 2 } },
  ];
  const where = await layOut("mixed", tasks);
  try {
    const env = { KT_TASKS_PER_POD: "4", KT_TASK_RETRIES: "1", KT_POD_WORKERS: "1" };
    const first = await pod(where, "mixed", 0, env);
    assert.equal(first.code, 1, first.stdout + first.stderr);
    assert.match(first.stderr, /task 1 failed: bad row/);
    assert.equal(await text(`${where.dir}/${taskErrorPath(RUN, "mixed", 1)}`), "bad row");
    assert.equal(
      await text(`${where.dir}/${taskLogPath(RUN, "mixed", 1)}`),
      "kt-deno task: bad row\n".repeat(2),
      "a failed task's log has its error, once an attempt",
    );
    assert.equal(await text(`${where.dir}/marks/a`), "mixed[0]\n");
    assert.equal(await text(`${where.dir}/marks/c`), "mixed[2]\n");
    assert.equal(await text(`${where.dir}/flaky/f`), "2", "task 3 was retried in the pod");
    const fs = new DataFs(new LocalDriver(where.dir));
    assert.deepEqual(await readDoneBlock(fs, RUN, "mixed", 0), [0, 2, 3]);
    const [, , ok] = JSON.parse(await text(`${where.dir}/${podTimePath(RUN, "mixed", 1)}`));
    assert.equal(ok, 0);

    const again = await pod(where, "mixed", 0, env);
    assert.equal(again.code, 1);
    assert.match(again.stdout, /pod 0 runs tasks 0-3 of mixed \(3 done before\)/);
    assert.equal(await text(`${where.dir}/marks/a`), "mixed[0]\n", "a done task is not rerun");
    assert.equal(await text(`${where.dir}/marks/c`), "mixed[2]\n");
    assert.equal(await text(`${where.dir}/flaky/f`), "2");
  } finally {
    await Deno.remove(where.dir, { recursive: true });
  }
});

Deno.test("a packed pod runs at most KT_POD_WORKERS tasks at once", async () => {
  const tasks = Array.from({ length: 6 }, (_, i): TaskDefinition => ({
    kind: "static",
    function: "steps.sleep",
    args: { ms: 200, name: `s${i}` },
  }));
  const where = await layOut("sleepy", tasks);
  try {
    const result = await pod(where, "sleepy", 0, { KT_TASKS_PER_POD: "6", KT_POD_WORKERS: "2" });
    assert.equal(result.code, 0, result.stderr);
    const spans = await Promise.all(
      tasks.map(async (_, i) => JSON.parse(await text(`${where.dir}/spans/s${i}`))),
    );
    const most = Math.max(
      ...spans.map((s) => spans.filter((o) => o.start <= s.start && s.start < o.end).length),
    );
    assert.ok(most <= 2, `${most} tasks ran at once`);
  } finally {
    await Deno.remove(where.dir, { recursive: true });
  }
});

Deno.test("a packed pod stopped by SIGTERM writes its done records before it exits", async () => {
  const tasks: TaskDefinition[] = [mark("a"), mark("b"), {
    kind: "static",
    function: "day_two.waitFor",
    args: { path: "never", line: "waiting" },
  }];
  const where = await layOut("stopped", tasks);
  try {
    const child = spawnKtDeno(["task"], where.dir, {
      KT_RUN_ID: RUN,
      KT_JOB_NAME: "stopped",
      JOB_COMPLETION_INDEX: "0",
      DATA_DIR: where.dir,
      KT_VERSION: VERSION,
      KT_TASKS_PER_CHUNK: String(where.perChunk),
      KT_FUNCTIONS_DIR: FIXTURE_FUNCTIONS,
      KT_TASK_COUNT: "3",
      KT_TASKS_PER_POD: "3",
      KT_POD_WORKERS: "1",
    });
    // Stopped as soon as the pod says its last task waits: the record of the task before
    // it is then due within the second, not yet written.
    const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let seen = "";
    await until("the last task to wait", 60, async () => {
      seen += (await lines.read()).value ?? "";
      return seen.includes("stopped[2] waiting");
    });
    child.kill("SIGTERM");
    const status = await child.status;
    await Promise.all([lines.cancel(), child.stderr.cancel()]);
    assert.equal(status.code, 143);
    const fs = new DataFs(new LocalDriver(where.dir));
    assert.deepEqual(await readDoneBlock(fs, RUN, "stopped", 0), [0, 1]);
  } finally {
    await Deno.remove(where.dir, { recursive: true });
  }
});

Deno.test("a packed pod set up wrong exits 2", async () => {
  const where = await layOut("wrong", [mark("x")]);
  try {
    const result = await pod(where, "wrong", 0, { KT_TASKS_PER_POD: "2", KT_VERSION: "0.0.0" });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /version mismatch/);
    const bad = await pod(where, "wrong", 0, { KT_TASKS_PER_POD: "two" });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /KT_TASKS_PER_POD must be a whole number, found "two"/);
  } finally {
    await Deno.remove(where.dir, { recursive: true });
  }
});

const settings: RunSettings = {
  runId: RUN,
  namespace: "default",
  image: "kt-worker:test",
  controllerImage: "kt-worker:test",
  pullPolicy: null,
  runAs: null,
  dataDir: "/data",
  version: VERSION,
  hostDataPath: "/data",
  ttlSecondsAfterFinished: 60,
  env: {},
  envFromSecrets: [],
};

function job(extra: Partial<JobState>): JobState {
  return {
    name: "wide",
    type: "static",
    memory: "1Gi",
    cpu: "2500m",
    dependencies: [],
    tasks: Array.from({ length: 2_000 }, (_, i) => ({ args: { i } })),
    status: "Running",
    attempts: 1,
    ...extra,
  };
}

// deno-lint-ignore no-explicit-any
type Json = any;

Deno.test("a packed job's Indexed Job: ceil(tasks / N) completions, the pod's settings, FailIndex", () => {
  const packed: Json = ktJob(settings, job({ tasks_per_pod: 200, retries: 2, parallelism: 4 }));
  assert.equal(packed.spec.completions, 10);
  assert.equal(packed.spec.parallelism, 4);
  assert.equal(packed.spec.backoffLimitPerIndex, 3);
  assert.deepEqual(packed.spec.podFailurePolicy.rules[1], {
    action: "FailIndex",
    onExitCodes: { containerName: "task", operator: "In", values: [1, 2] },
  });
  const env = Object.fromEntries(
    packed.spec.template.spec.containers[0].env.map((e: Json) => [e.name, e.value]),
  );
  assert.equal(env.KT_TASKS_PER_POD, "200");
  assert.equal(env.KT_TASK_COUNT, "2000");
  assert.equal(env.KT_TASK_RETRIES, "2");
  assert.equal(env.KT_POD_WORKERS, "2");
  assert.deepEqual(packed.spec.template.spec.containers[0].resources.requests, {
    cpu: "2500m",
    memory: "1Gi",
  });
  const uneven: Json = ktJob(settings, job({ tasks_per_pod: 300, cpu: "500m" }));
  assert.equal(uneven.spec.completions, 7);
  assert.equal(uneven.spec.parallelism, 7);
  assert.ok(
    uneven.spec.template.spec.containers[0].env.some((e: Json) =>
      e.name === "KT_POD_WORKERS" && e.value === "1"
    ),
  );
});

Deno.test("tasks_per_pod: 1 makes exactly the Job of a job without it", () => {
  assert.deepEqual(ktJob(settings, job({ tasks_per_pod: 1 })), ktJob(settings, job({})));
  const plain: Json = ktJob(settings, job({ retries: 2 }));
  assert.equal(plain.spec.completions, 2_000);
  assert.equal(plain.spec.backoffLimitPerIndex, 2);
  assert.equal(plain.spec.podFailurePolicy.rules.length, 1);
  assert.ok(
    !plain.spec.template.spec.containers[0].env.some((e: Json) => e.name === "KT_TASKS_PER_POD"),
  );
});

Deno.test("a packed job's progress counts tasks, from its pods", () => {
  const packed = job({ tasks: Array.from({ length: 10 }, () => ({ args: {} })), tasks_per_pod: 4 });
  assert.deepEqual(taskProgress(packed, { succeeded: 2, active: 1 }, 0), {
    job: "wide",
    total: 10,
    succeeded: 8,
    running: 2,
    failed: 0,
  });
  assert.deepEqual(taskProgress(packed, { succeeded: 1 }, 2), {
    job: "wide",
    total: 10,
    succeeded: 4,
    running: 0,
    failed: 6,
  });
  assert.deepEqual(taskProgress(job({}), { succeeded: 5, active: 3 }, 1), {
    job: "wide",
    total: 2_000,
    succeeded: 5,
    running: 3,
    failed: 1,
  });
});
