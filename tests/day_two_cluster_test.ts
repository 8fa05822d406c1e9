/**
 * Operating runs on the test cluster: task logs that outlive their Jobs, `list` with the
 * controller Jobs, `cancel` (nothing of the run left, state Cancelled) and `resume` with
 * the flags of `run`.
 */
import assert from "node:assert/strict";
import type { KubeClient } from "../src/k8s/client.ts";
import { LABELS } from "../src/k8s/names.ts";
import { FIXTURE_FUNCTIONS, ktDeno, runIdOf, specFile, stateOf } from "./cli_helpers.ts";
import { applyRbac, clusterSuite, writableByPods } from "./cluster/harness.ts";
import { testImage } from "./cluster/images.ts";
import { until } from "./until.ts";

const NS = "default";
const FUNCTIONS_IMAGE = await testImage("day-two", [FIXTURE_FUNCTIONS]);
const IMAGE = FUNCTIONS_IMAGE.ref;
/** The controller runs in the worker image too (it has kt-deno). */
const IMAGES = ["--image", IMAGE, "--controller-image", IMAGE];
const temporary: string[] = [];
const suite = clusterSuite({ images: [FUNCTIONS_IMAGE] });

async function objectsOf(kube: KubeClient, runId: string): Promise<string[]> {
  const query = { labelSelector: `${LABELS.runId}=${runId}` };
  const jobs = await kube.request<{ items: { metadata: { name: string } }[] }>(
    "GET",
    `/apis/batch/v1/namespaces/${NS}/jobs`,
    { query },
  );
  const pods = await kube.request<{ items: { metadata: { name: string } }[] }>(
    "GET",
    `/api/v1/namespaces/${NS}/pods`,
    { query },
  );
  return [...jobs.items, ...pods.items].map((o) => o.metadata.name);
}

async function readText(path: string): Promise<string> {
  return await Deno.readTextFile(path).catch(() => "");
}

suite.test("a task's log is readable with kt-deno logs after its Job was deleted", async ({ cluster, kube }) => {
  await applyRbac(kube, NS);
  const { dir, path } = await specFile({
    name: "talk",
    jobs: [{
      name: "talk",
      type: "static",
      tasks: [
        { function: "day_two.chatty", args: { lines: ["one", "two"] } },
        { command: ["sh", "-c", "echo from a command"] },
      ],
    }],
  });
  temporary.push(dir);
  const env = { KUBECONFIG: cluster.kubeconfigPath };
  const dataDir = `${dir}/data`;
  await Deno.mkdir(dataDir);
  await writableByPods(dataDir);
  const run = await ktDeno(
    ["run", path, ...IMAGES, "--data-dir", dataDir, "--ttl", "1", "--wait"],
    dir,
    env,
  );
  assert.equal(run.code, 0, run.stdout + run.stderr);
  const runId = runIdOf(run.stdout);
  await until(
    "the run's Jobs to be deleted after their TTL",
    120,
    async () => (await objectsOf(kube, runId)).length === 0,
  );

  const logs = await ktDeno(["logs", runId, "--data-dir", dataDir], dir, env);
  assert.equal(logs.code, 0, logs.stderr);
  const lines = logs.stdout.trimEnd().split("\n");
  assert.deepEqual(lines.filter((l) => !l.endsWith("to stderr")), [
    "talk[0] one",
    "talk[0] two",
    "talk[1] from a command",
  ]);
  assert.ok(lines.includes("talk[0] to stderr"), logs.stdout);
  const controller = await ktDeno(["logs", runId, "--controller", "--data-dir", dataDir], dir, env);
  assert.match(controller.stdout, new RegExp(`controller .* run ${runId} Completed`));

  const listed = await ktDeno(["list", "--data-dir", dataDir, "-n", NS, "-o", "json"], dir, env);
  assert.equal(listed.code, 0, listed.stderr);
  assert.deepEqual(
    JSON.parse(listed.stdout).map((
      r: { run_id: string; status: string; controller_job: boolean },
    ) => [r.run_id, r.status, r.controller_job]),
    [[runId, "Completed", false]],
  );
});

suite.test("cancel on the cluster leaves no Job or pod of the run and a Cancelled state; resume finishes it", async ({ cluster, kube }) => {
  await applyRbac(kube, NS);
  const { dir, path } = await specFile({
    name: "stoppable",
    jobs: [
      {
        name: "slow",
        type: "static",
        tasks: [{ function: "day_two.waitFor", args: { path: "go", line: "waiting for go" } }],
      },
      {
        name: "then",
        type: "static",
        dependencies: ["slow"],
        tasks: [{ function: "day_two.mark", args: { name: "then" } }],
      },
    ],
  });
  temporary.push(dir);
  const env = { KUBECONFIG: cluster.kubeconfigPath };
  const dataDir = `${dir}/data`;
  await Deno.mkdir(dataDir);
  await writableByPods(dataDir);
  const run = await ktDeno(["run", path, ...IMAGES, "--data-dir", dataDir], dir, env);
  assert.equal(run.code, 0, run.stdout + run.stderr);
  const runId = runIdOf(run.stdout);
  await until(
    "the task's first line in its log",
    120,
    async () =>
      (await readText(`${dataDir}/kt-metadata/${runId}/logs/slow/0.log`)).includes("waiting"),
  );
  const listed = await ktDeno(["list", "--data-dir", dataDir, "-n", NS], dir, env);
  assert.match(listed.stdout, new RegExp(`${runId}\\s+stoppable\\s+Running\\s+.*0/2\\s+exists`));

  const cancel = await ktDeno(["cancel", runId, "--data-dir", dataDir], dir, env);
  assert.equal(cancel.code, 0, cancel.stdout + cancel.stderr);
  assert.deepEqual(await objectsOf(kube, runId), []);
  const state = await stateOf(dataDir, runId);
  assert.equal(state.status, "Cancelled");
  assert.equal(state.jobs.slow.status, "Failed");
  assert.match(state.jobs.slow.error!, /^cancelled: /);
  const again = await ktDeno(["cancel", runId, "--data-dir", dataDir], dir, env);
  assert.equal(again.code, 0);
  assert.match(again.stdout, /already Cancelled/);

  const here = await ktDeno(["resume", runId, "--data-dir", dataDir], dir, env);
  assert.equal(here.code, 2);
  assert.match(here.stderr, /ran on Kubernetes \(namespace default\); resume it there/);

  await Deno.writeTextFile(`${dataDir}/go`, "");
  const resumed = await ktDeno(
    ["resume", runId, ...IMAGES, "--data-dir", dataDir, "--wait"],
    dir,
    env,
  );
  assert.equal(resumed.code, 0, resumed.stdout + resumed.stderr);
  const final = await stateOf(dataDir, runId);
  assert.equal(final.status, "Completed");
  assert.equal(final.jobs.slow.attempts, 2);
  assert.equal(await readText(`${dataDir}/marks/then`), "then[0]\n");
});

suite.test("remove the test folders", async () => {
  for (const dir of temporary) await Deno.remove(dir, { recursive: true }).catch(() => {});
});

suite.end();
