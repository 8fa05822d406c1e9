/**
 * Schedules without a cluster: the CronJob as data, the checks of a schedule's input
 * (bad input exits 2 and makes nothing), a firing's start in the data dir, and `prune` on
 * a local data dir and on S3 (a real MinIO server).
 */
import assert from "node:assert/strict";
import { cronProblem, nextFiring, scheduleNameProblem, timezoneProblem } from "../src/k8s/cron.ts";
import { runSettings } from "../src/k8s/launcher.ts";
import { CONTROLLER_JOB_ENV, SETTINGS_ENV } from "../src/k8s/manifests.ts";
import { LABELS } from "../src/k8s/names.ts";
import {
  type CronJobObject,
  scheduleCronJob,
  schedulerRole,
  settingsOfCronJob,
  STARTING_DEADLINE_SECONDS,
  triggeredJob,
} from "../src/k8s/schedule_manifests.ts";
import { startFiring } from "../src/k8s/scheduled_run.ts";
import { readKeptSpec } from "../src/records/kept_spec.ts";
import { readLaunch } from "../src/records/launch.ts";
import { planPrune } from "../src/records/prune.ts";
import { runIdFor } from "../src/records/run_id.ts";
import { writeScheduleSpec } from "../src/records/schedule_spec.ts";
import { DataFs } from "../src/storage/data_fs.ts";
import { LocalDriver } from "../src/storage/local.ts";
import { S3Driver } from "../src/storage/s3.ts";
import { VERSION } from "../src/version.ts";
import type { Pipeline } from "../src/spec/schema.ts";
import { exists, ktDeno, specFile } from "./cli_helpers.ts";
import { startMinio } from "./minio/harness.ts";

const settings = runSettings({
  runId: "",
  namespace: "pipelines",
  image: "worker:1",
  dataDir: "/mnt/data",
  hostDataPath: "/mnt/data",
});
const pipeline: Pipeline = {
  name: "nightly",
  jobs: [{
    name: "a",
    type: "static",
    tasks: [{ command: ["true"], args: {} }],
    cpu: "100m",
    memory: "64Mi",
    dependencies: [],
  }],
};

// deno-lint-ignore no-explicit-any
type Any = any;

Deno.test("a schedule's CronJob: Forbid, a starting deadline, its labels, the controller Job as its template", () => {
  const cronJob: Any = scheduleCronJob(settings, {
    name: "nightly",
    cron: " 0 2 * * * ",
    timeZone: "Europe/Berlin",
    keep: 5,
  });
  assert.equal(cronJob.kind, "CronJob");
  assert.equal(cronJob.metadata.name, "kt-schedule-nightly");
  assert.equal(cronJob.metadata.labels[LABELS.schedule], "nightly");
  assert.equal(cronJob.metadata.labels[LABELS.component], "schedule");
  assert.deepEqual(
    [cronJob.spec.schedule, cronJob.spec.timeZone, cronJob.spec.suspend],
    ["0 2 * * *", "Europe/Berlin", false],
  );
  assert.equal(cronJob.spec.concurrencyPolicy, "Forbid");
  assert.equal(cronJob.spec.startingDeadlineSeconds, STARTING_DEADLINE_SECONDS);
  const job = cronJob.spec.jobTemplate;
  assert.equal(job.metadata.labels[LABELS.schedule], "nightly");
  assert.equal(job.metadata.labels[LABELS.runId], undefined, "each firing takes its own run id");
  assert.equal(job.spec.podFailurePolicy.rules.length, 2);
  const pod = job.spec.template.spec;
  assert.equal(pod.serviceAccountName, "kt-pod");
  const container = pod.containers[0];
  assert.deepEqual(container.command, [
    "kt-deno",
    "controller",
    "--schedule",
    "nightly",
    "--keep",
    "5",
  ]);
  const env = Object.fromEntries(
    container.env.map((e: Any) => [e.name, e.value ?? e.valueFrom.fieldRef.fieldPath]),
  );
  assert.equal(
    env[CONTROLLER_JOB_ENV.uid],
    "metadata.labels['batch.kubernetes.io/controller-uid']",
  );
  assert.equal(env[CONTROLLER_JOB_ENV.name], "metadata.labels['batch.kubernetes.io/job-name']");
  assert.equal(JSON.parse(env[SETTINGS_ENV]).runId, "");
  assert.equal(settingsOfCronJob(cronJob as CronJobObject).dataDir, "/mnt/data");
  assert.deepEqual(pod.volumes[0].hostPath.path, "/mnt/data");

  const other: Any = scheduleCronJob(settings, {
    name: "n",
    cron: "@hourly",
    suspend: true,
    concurrencyPolicy: "Replace",
  });
  assert.deepEqual(
    [other.spec.timeZone, other.spec.suspend, other.spec.concurrencyPolicy],
    [undefined, true, "Replace"],
  );
  assert.deepEqual(other.spec.jobTemplate.spec.template.spec.containers[0].command, [
    "kt-deno",
    "controller",
    "--schedule",
    "n",
  ]);
});

Deno.test("trigger's Job is the CronJob's template, owned by it; the scheduler Role", () => {
  const cronJob: Any = scheduleCronJob(settings, { name: "nightly", cron: "* * * * *" });
  const job: Any = triggeredJob(
    { ...cronJob, metadata: { ...cronJob.metadata, uid: "u-1" } },
    "abc123",
  );
  assert.equal(job.metadata.name, "kt-schedule-nightly-manual-abc123");
  assert.ok(job.metadata.name.length <= 63);
  assert.equal(job.metadata.ownerReferences[0].kind, "CronJob");
  assert.equal(job.metadata.ownerReferences[0].uid, "u-1");
  assert.equal(job.metadata.labels[LABELS.schedule], "nightly");
  assert.deepEqual(job.spec, cronJob.spec.jobTemplate.spec);
  const role: Any = schedulerRole("pipelines");
  assert.deepEqual(role.rules.map((r: Any) => r.resources[0]), ["cronjobs", "jobs", "events"]);
});

Deno.test("cron expressions, time zones and names are checked as a CronJob takes them", () => {
  for (const good of ["* * * * *", "0 2 * * MON-FRI", "*/15 0-6 1,15 JAN-MAR ?", "@daily"]) {
    assert.equal(cronProblem(good), null, good);
  }
  for (
    const bad of [
      "* * * *",
      "* * * * * *",
      "61 * * * *",
      "0 0 L * *",
      "0 0 * * 1#2",
      "",
      "TZ=UTC * * * * *",
      "@every 5m",
    ]
  ) {
    assert.match(cronProblem(bad) ?? "", /^--cron .* is not a cron expression/, bad);
  }
  assert.equal(timezoneProblem("Europe/Berlin"), null);
  assert.equal(timezoneProblem("UTC"), null);
  assert.match(timezoneProblem("Mars/Olympus")!, /--timezone "Mars\/Olympus" is not a time zone/);
  assert.equal(scheduleNameProblem("nightly-load"), null);
  assert.match(scheduleNameProblem("Nightly")!, /schedule name "Nightly" is not valid/);
  assert.match(scheduleNameProblem("x".repeat(37))!, /at most 36/);
  assert.equal(
    nextFiring("0 2 * * *", undefined, new Date("2030-01-01T03:00:00Z")).toISOString(),
    "2030-01-02T02:00:00.000Z",
  );
  assert.equal(
    nextFiring("0 2 * * *", "Europe/Berlin", new Date("2030-01-01T03:00:00Z")).toISOString(),
    "2030-01-02T01:00:00.000Z",
  );
});

Deno.test("schedule create: bad input exits 2, names it, and makes nothing", async () => {
  const { dir, path } = await specFile(pipeline);
  const bad = await specFile({
    name: "p",
    jobs: [{ name: "a", type: "static", dependencies: ["x"] }],
  });
  try {
    const dataDir = `${dir}/data`;
    // No cluster is reachable: every check happens before one is asked.
    const env = { KUBECONFIG: `${dir}/no-kubeconfig` };
    const create = (name: string, spec: string, ...flags: string[]) =>
      ktDeno(
        [
          "schedule",
          "create",
          name,
          spec,
          "--image",
          "worker:1",
          "--data-dir",
          dataDir,
          "--cron",
          "* * * * *",
          ...flags,
        ],
        dir,
        env,
      );
    const cases: [Promise<Awaited<ReturnType<typeof create>>>, RegExp][] = [
      [
        create("nightly", path, "--cron", "61 * * * *"),
        /--cron "61 \* \* \* \*" is not a cron expression/,
      ],
      [create("nightly", path, "--timezone", "Mars/Olympus"), /--timezone "Mars\/Olympus"/],
      [create("Night_ly", path), /schedule name "Night_ly" is not valid/],
      [create("nightly", bad.path), /unknown job "x"/],
      [
        create("nightly", path, "--concurrency-policy", "Sometimes"),
        /--concurrency-policy must be one of Forbid, Allow, Replace/,
      ],
      [create("nightly", path, "--data-dir", "relative/data"), /must be an absolute path/],
    ];
    for (const [running, message] of cases) {
      const result = await running;
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, message);
      assert.equal(result.stdout, "");
    }
    assert.equal(await exists(dataDir), false, "nothing is written");
    const badName = await ktDeno(["schedule", "delete", "No"], dir, env);
    assert.equal(badName.code, 2);
    assert.match(badName.stderr, /schedule name "No" is not valid/);
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(bad.dir, { recursive: true });
  }
});

Deno.test("a firing starts its run from the schedule's spec once; a restarted pod continues it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const fs = new DataFs(new LocalDriver(dir));
    const lines: string[] = [];
    const firing = { name: "nightly", job: { name: "kt-schedule-nightly-29000000", uid: "uid-1" } };
    const run = { ...settings, dataDir: dir };
    await assert.rejects(startFiring(fs, run, firing, (l) => lines.push(l)), /has no spec/);
    await writeScheduleSpec(fs, "nightly", pipeline, VERSION);
    const started = await startFiring(fs, run, firing, (l) => lines.push(l));
    assert.equal(started.runId, await runIdFor("uid-1"));
    assert.equal(started.controllerJob, "kt-schedule-nightly-29000000");
    assert.deepEqual((await readKeptSpec(fs, started.runId)).name, "nightly");
    assert.deepEqual(await readLaunch(fs, started.runId), {
      namespace: "pipelines",
      schedule: "nightly",
      controller_job: "kt-schedule-nightly-29000000",
    });
    await writeScheduleSpec(fs, "nightly", { ...pipeline, name: "changed" }, VERSION);
    const again = await startFiring(fs, run, firing, (l) => lines.push(l));
    assert.equal(again.runId, started.runId);
    assert.equal((await readKeptSpec(fs, started.runId)).name, "nightly", "a run keeps its spec");
    assert.match(lines.join("\n"), /continues run/);
    const next = await startFiring(
      fs,
      run,
      { ...firing, job: { name: "j2", uid: "uid-2" } },
      () => {},
    );
    assert.notEqual(next.runId, started.runId);
    await writeScheduleSpec(fs, "nightly", pipeline, "0.0.1");
    await assert.rejects(
      startFiring(fs, run, { ...firing, job: { name: "j3", uid: "uid-3" } }, () => {}),
      /kept by kt-deno 0\.0\.1/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Writes a run's records as its driver leaves them. */
async function fakeRun(
  fs: DataFs,
  runId: string,
  status: string,
  finishedAgoMs: number | null,
  beatAgoMs: number | null,
  schedule?: string,
  stopped = true,
) {
  const now = Date.now();
  const finished = finishedAgoMs === null ? undefined : new Date(now - finishedAgoMs).toISOString();
  const created = new Date(now - (finishedAgoMs ?? 0) - 60_000).toISOString();
  const base = `kt-metadata/${runId}`;
  await fs.writeJson(`${base}/pipeline_run_state.json`, {
    pipeline_run_id: runId,
    pipeline_name: "p",
    status,
    created_at: created,
    updated_at: finished ?? created,
    ...(finished ? { finished_at: finished } : {}),
    jobs: {},
  });
  await fs.write(`${base}/logs/a/0.log`, "x".repeat(1000));
  if (beatAgoMs !== null) {
    await fs.writeJson(`${base}/heartbeat.json`, {
      run_id: runId,
      role: "controller",
      pid: 1,
      host: "elsewhere",
      ...(schedule ? { schedule } : {}),
      heartbeat_at: new Date(now - beatAgoMs).toISOString(),
      ...(stopped ? { stopped: true } : {}),
      pipeline_name: "p",
      status,
      created_at: created,
      ...(finished ? { finished_at: finished } : {}),
      jobs_completed: 0,
      jobs_total: 0,
    });
  }
}

const DAY = 86_400_000;

async function pruneScenario(fs: DataFs) {
  await fakeRun(fs, "ktpr00000001", "Completed", 40 * DAY, 40 * DAY);
  await fakeRun(fs, "ktpr00000002", "Failed", 35 * DAY, null);
  await fakeRun(fs, "ktpr00000003", "Running", null, 1000);
  await fakeRun(fs, "ktpr00000004", "Running", null, 50 * DAY);
  await fakeRun(fs, "ktpr00000005", "Completed", 1 * DAY, 1 * DAY, "nightly");
  await fakeRun(fs, "ktpr00000006", "Completed", 2 * DAY, 2 * DAY, "nightly");
  await fakeRun(fs, "ktpr00000007", "Completed", 3 * DAY, 3 * DAY, "nightly");
  await fs.write("kt-metadata/ktpr00000008/pipeline_spec.json", "{}");
  // Its driver still writes its report: a fresh beat that is not its last.
  await fakeRun(fs, "ktpr00000009", "Completed", 50 * DAY, 1000, undefined, false);
  await fakeRun(fs, "ktpr0000000a", "Completed", 45 * DAY, 1000);
  await fs.write("output/result.txt", "kept");
}

async function checkPrune(fs: DataFs) {
  await pruneScenario(fs);
  const old = await planPrune(fs, { olderThanMs: 30 * DAY });
  assert.deepEqual(old.remove.map((r) => r.run_id), [
    "ktpr00000002",
    "ktpr00000001",
    "ktpr0000000a",
  ]);
  assert.ok(old.remove.every((r) => r.bytes > 1000), JSON.stringify(old.remove));
  assert.deepEqual(
    Object.fromEntries(old.kept.map((r) => [r.run_id, r.why])),
    {
      ktpr00000003: "Running",
      ktpr00000004: "Running",
      ktpr00000005: "newer than the limit",
      ktpr00000006: "newer than the limit",
      ktpr00000007: "newer than the limit",
      ktpr00000008: "not started",
      ktpr00000009: "still driven (fresh heartbeat)",
    },
  );
  const scheduled = await planPrune(fs, { keep: 1, schedule: "nightly" });
  assert.deepEqual(scheduled.remove.map((r) => r.run_id), ["ktpr00000006", "ktpr00000007"]);
}

Deno.test("prune on a local data dir: finished runs go, live and unstarted runs and outputs stay", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await checkPrune(new DataFs(new LocalDriver(dir)));
    const dry = await ktDeno(["prune", "--data-dir", dir, "--older-than", "30d", "--dry-run"], dir);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(
      dry.stdout,
      /ktpr00000001\s+Completed\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ\s+-\s+1\.5 KiB/,
    );
    assert.match(dry.stdout, /would remove 3 runs \(\d+\.\d KiB\)/);
    assert.ok(await exists(`${dir}/kt-metadata/ktpr00000001`));
    const pruned = await ktDeno(["prune", "--data-dir", dir, "--keep", "2"], dir);
    assert.equal(pruned.code, 0, pruned.stderr);
    assert.match(pruned.stdout, /removed 4 runs/);
    const left = [...Deno.readDirSync(`${dir}/kt-metadata`)].map((e) => e.name).sort();
    assert.deepEqual(left, [
      "ktpr00000003",
      "ktpr00000004",
      "ktpr00000005",
      "ktpr00000006",
      "ktpr00000008",
      "ktpr00000009",
    ]);
    assert.equal(await Deno.readTextFile(`${dir}/output/result.txt`), "kept");
    const both = await ktDeno(["prune", "--data-dir", dir], dir);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /one of --older-than AGE or --keep N/);
    const age = await ktDeno(["prune", "--data-dir", dir, "--older-than", "30 days"], dir);
    assert.equal(age.code, 2);
    assert.match(age.stderr, /--older-than must be a number and a unit/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "prune on an s3:// data dir (MinIO)",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const minio = await startMinio();
    try {
      for (const [key, value] of Object.entries(minio.env)) Deno.env.set(key, value);
      const fs = new DataFs(new S3Driver(`s3://${minio.bucket}/prune`));
      await checkPrune(fs);
      const dry = await ktDeno(
        ["prune", "--data-dir", `s3://${minio.bucket}/prune`, "--older-than", "30d"],
        Deno.cwd(),
        minio.env,
      );
      assert.equal(dry.code, 0, dry.stderr);
      assert.match(dry.stdout, /removed 3 runs/);
      assert.equal(await fs.exists("kt-metadata/ktpr00000001/logs/a/0.log"), false);
      assert.equal(await fs.exists("kt-metadata/ktpr00000003/logs/a/0.log"), true);
      assert.equal(await fs.read("output/result.txt"), "kept");
    } finally {
      await minio.stop();
    }
  },
});
