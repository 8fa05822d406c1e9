/**
 * Schedules on the test cluster: a `* * * * *` schedule fires and its run completes (we
 * wait on the CronJob's Job), Forbid skips a firing while the last run still goes,
 * `schedule list` shows the last run, `trigger` runs at once, `--keep` prunes after a run,
 * `delete` leaves no CronJob and keeps past runs, and `prune` keeps a live run.
 */
import assert from "node:assert/strict";
import type { KubeClient } from "../src/k8s/client.ts";
import { LABELS } from "../src/k8s/names.ts";
import { runIdFor } from "../src/records/run_id.ts";
import { exists, FIXTURE_FUNCTIONS, ktDeno, specFile, stateOf } from "./cli_helpers.ts";
import { applyRbac, clusterSuite, writableByPods } from "./cluster/harness.ts";
import { testImage } from "./cluster/images.ts";
import { until } from "./until.ts";

const NS = "default";
const FUNCTIONS_IMAGE = await testImage("schedules", [FIXTURE_FUNCTIONS]);
const IMAGES = ["--image", FUNCTIONS_IMAGE.ref, "--controller-image", FUNCTIONS_IMAGE.ref];
const temporary: string[] = [];
const suite = clusterSuite({ images: [FUNCTIONS_IMAGE] });

interface JobObject {
  metadata: { name: string; uid: string; creationTimestamp: string };
  status?: { succeeded?: number; failed?: number; active?: number };
}

async function jobsOf(kube: KubeClient, schedule: string): Promise<JobObject[]> {
  const list = await kube.request<{ items: JobObject[] }>(
    "GET",
    `/apis/batch/v1/namespaces/${NS}/jobs`,
    { query: { labelSelector: `${LABELS.schedule}=${schedule}` } },
  );
  return list.items.sort((a, b) =>
    a.metadata.creationTimestamp.localeCompare(b.metadata.creationTimestamp)
  );
}

async function cronJobExists(kube: KubeClient, schedule: string): Promise<boolean> {
  const list = await kube.request<{ items: unknown[] }>(
    "GET",
    `/apis/batch/v1/namespaces/${NS}/cronjobs`,
    { query: { labelSelector: `${LABELS.schedule}=${schedule}` } },
  );
  return list.items.length > 0;
}

async function job(kube: KubeClient, name: string): Promise<JobObject> {
  return await kube.request<JobObject>("GET", `/apis/batch/v1/namespaces/${NS}/jobs/${name}`);
}

/** A data dir the pods can write, and the environment of a kt-deno on this cluster. */
async function setup(spec: unknown, cluster: { kubeconfigPath: string }) {
  const { dir, path } = await specFile(spec);
  temporary.push(dir);
  const dataDir = `${dir}/data`;
  await Deno.mkdir(dataDir);
  await writableByPods(dataDir);
  return { dir, path, dataDir, env: { KUBECONFIG: cluster.kubeconfigPath } };
}

suite.test("a * * * * * schedule fires, Forbid skips a firing while its run goes, the run completes and shows in schedule list; delete keeps the run", async ({ cluster, kube }) => {
  await applyRbac(kube, NS);
  const { dir, path, dataDir, env } = await setup({
    name: "minutely",
    jobs: [{
      name: "slow",
      type: "static",
      tasks: [{ function: "day_two.waitFor", args: { path: "go", line: "waiting for go" } }],
    }],
  }, cluster);
  const create = await ktDeno(
    [
      "schedule",
      "create",
      "minutely",
      path,
      "--cron",
      "* * * * *",
      ...IMAGES,
      "--data-dir",
      dataDir,
    ],
    dir,
    env,
  );
  assert.equal(create.code, 0, create.stdout + create.stderr);
  assert.match(create.stdout, /cronjob\/kt-schedule-minutely in namespace default/);
  assert.ok(await exists(`${dataDir}/kt-schedules/minutely/spec.json`));
  const again = await ktDeno(
    [
      "schedule",
      "create",
      "minutely",
      path,
      "--cron",
      "* * * * *",
      ...IMAGES,
      "--data-dir",
      dataDir,
    ],
    dir,
    env,
  );
  assert.equal(again.code, 2);
  assert.match(again.stderr, /schedule minutely exists in namespace default: .*schedule update/);

  const [first] = await until("the schedule's first firing", 90, async () => {
    const jobs = await jobsOf(kube, "minutely");
    return jobs.length ? jobs : null;
  });
  const runId = await runIdFor(first.metadata.uid);
  await until(
    "the run's task to wait for go",
    120,
    async () =>
      (await Deno.readTextFile(`${dataDir}/kt-metadata/${runId}/logs/slow/0.log`).catch(() => ""))
        .includes("waiting for go"),
  );
  const live = await ktDeno(["prune", "--data-dir", dataDir, "--older-than", "1s"], dir, env);
  assert.equal(live.code, 0, live.stderr);
  assert.match(live.stdout, /removed 0 runs/);
  assert.ok(await exists(`${dataDir}/kt-metadata/${runId}/pipeline_run_state.json`));

  const skipped = await until("a firing skipped by Forbid, said in schedule list", 90, async () => {
    const listed = await ktDeno(["schedule", "list", "-o", "json"], dir, env);
    const row = JSON.parse(listed.stdout)[0];
    return row?.last_skipped ? row : null;
  });
  assert.equal(skipped.active, 1);
  assert.equal(skipped.last_run, runId);
  assert.equal((await jobsOf(kube, "minutely")).length, 1, "no second run while the first goes");
  const suspend = await ktDeno(["schedule", "suspend", "minutely"], dir, env);
  assert.equal(suspend.code, 0, suspend.stderr);

  await Deno.writeTextFile(`${dataDir}/go`, "");
  await until(
    "the firing's Job to complete",
    120,
    async () => ((await job(kube, first.metadata.name)).status?.succeeded ?? 0) >= 1,
  );
  assert.equal((await stateOf(dataDir, runId)).status, "Completed");
  const listed = await ktDeno(["schedule", "list"], dir, env);
  assert.equal(listed.code, 0, listed.stderr);
  assert.match(
    listed.stdout,
    new RegExp(`minutely\\s+\\* \\* \\* \\* \\*\\s+-\\s+yes\\s+0\\s+${runId}\\s+Completed`),
  );
  const runs = await ktDeno(["list", "--data-dir", dataDir], dir, env);
  assert.match(runs.stdout, new RegExp(`${runId}\\s+minutely\\s+Completed.*\\s+minutely`));

  const deleted = await ktDeno(["schedule", "delete", "minutely"], dir, env);
  assert.equal(deleted.code, 0, deleted.stdout + deleted.stderr);
  assert.equal(await cronJobExists(kube, "minutely"), false);
  assert.equal(await exists(`${dataDir}/kt-schedules/minutely`), false);
  assert.equal((await stateOf(dataDir, runId)).status, "Completed", "past runs stay");
  const gone = await ktDeno(["schedule", "delete", "minutely"], dir, env);
  assert.equal(gone.code, 2);
  assert.match(gone.stderr, /no schedule minutely in namespace default/);

  const pruned = await ktDeno(["prune", "--data-dir", dataDir, "--older-than", "1s"], dir, {
    ...env,
    KT_HEARTBEAT_STALE_SECONDS: "1",
  });
  assert.equal(pruned.code, 0, pruned.stderr);
  assert.match(pruned.stdout, /removed 1 run \(/);
  assert.equal(await exists(`${dataDir}/kt-metadata/${runId}`), false);
  assert.ok(await exists(`${dataDir}/go`), "outputs stay");
});

suite.test("trigger runs a suspended schedule at once; --keep 1 prunes the run before; update changes the next run's spec", async ({ cluster, kube }) => {
  await applyRbac(kube, NS);
  const spec = (name: string) => ({
    name,
    jobs: [{ name: "mark", type: "static", tasks: [{ function: "day_two.mark", args: { name } }] }],
  });
  const { dir, path, dataDir, env } = await setup(spec("first"), cluster);
  const create = await ktDeno(
    [
      "schedule",
      "create",
      "yearly",
      path,
      "--cron",
      "0 0 1 1 *",
      "--timezone",
      "Europe/Berlin",
      "--suspend",
      "--keep",
      "1",
      ...IMAGES,
      "--data-dir",
      dataDir,
    ],
    dir,
    env,
  );
  assert.equal(create.code, 0, create.stdout + create.stderr);
  const trigger = async () => {
    const started = await ktDeno(["schedule", "trigger", "yearly"], dir, env);
    assert.equal(started.code, 0, started.stdout + started.stderr);
    const runId = /run id: (ktpr[0-9a-f]{8})/.exec(started.stdout)![1];
    const name = /controller: job\/(\S+)/.exec(started.stdout)![1];
    await until(
      "the triggered Job to complete",
      120,
      async () => ((await job(kube, name)).status?.succeeded ?? 0) >= 1,
    );
    return runId;
  };
  const one = await trigger();
  assert.equal((await stateOf(dataDir, one)).status, "Completed");
  assert.equal(await Deno.readTextFile(`${dataDir}/marks/first`), "mark[0]\n");

  const second = await specFile(spec("second"));
  temporary.push(second.dir);
  const update = await ktDeno(["schedule", "update", "yearly", second.path], dir, env);
  assert.equal(update.code, 0, update.stdout + update.stderr);
  const two = await trigger();
  assert.equal((await stateOf(dataDir, two)).status, "Completed");
  assert.equal(await Deno.readTextFile(`${dataDir}/marks/second`), "mark[0]\n");
  assert.equal(await exists(`${dataDir}/kt-metadata/${one}`), false, "--keep 1 pruned the first");
  const listed = JSON.parse((await ktDeno(["schedule", "list", "-o", "json"], dir, env)).stdout);
  assert.deepEqual(
    [listed[0].name, listed[0].timezone, listed[0].suspended, listed[0].last_run],
    ["yearly", "Europe/Berlin", true, two],
  );
  assert.equal(listed[0].next_firing, undefined, "a suspended schedule does not fire");

  const deleted = await ktDeno(["schedule", "delete", "yearly"], dir, env);
  assert.equal(deleted.code, 0, deleted.stderr);
  assert.equal(await cronJobExists(kube, "yearly"), false);
  assert.ok(await exists(`${dataDir}/kt-metadata/${two}/pipeline_run_state.json`));
});

suite.test("remove the test folders", async () => {
  for (const dir of temporary) await Deno.remove(dir, { recursive: true }).catch(() => {});
});

suite.end();
