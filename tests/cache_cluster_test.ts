/**
 * `kt-deno run --cache --image` on the test cluster's real node: the controller answers
 * the tasks whose entries hold before it makes a Job, so a second run with nothing changed
 * creates no task Job and no task pod; a changed input file reruns only the tasks that read
 * it (and those whose inputs those reruns changed), each in a Job of its missed tasks only.
 */
import assert from "node:assert/strict";
import type { KubeClient } from "../src/k8s/client.ts";
import { LABELS } from "../src/k8s/names.ts";
import type { CacheDecision } from "../src/records/cache.ts";
import {
  exists,
  FIXTURE_FUNCTIONS,
  ktDeno,
  runIdOf,
  spawnKtDeno,
  specFile,
  stateOf,
} from "./cli_helpers.ts";
import { until } from "./until.ts";
import { applyRbac, clusterSuite, writableByPods } from "./cluster/harness.ts";
import { testImage } from "./cluster/images.ts";

// deno-lint-ignore no-explicit-any
type Obj = any;

const EXAMPLE = new URL("../examples/hello-world", import.meta.url).pathname;
/** The image of tests/k8s_e2e_test.ts (same name and folders: built once for both). */
const FUNCTIONS_IMAGE = await testImage("e2e", [FIXTURE_FUNCTIONS, `${EXAMPLE}/kt_functions`]);
const IMAGE = FUNCTIONS_IMAGE.ref;
const NS = "default";

const suite = clusterSuite({ images: [FUNCTIONS_IMAGE] });

const FILES = ["a.txt", "b.txt", "c.txt"];

/** first: input/x -> mid/x; second (after first): mid/x -> out/x; hello.prepend each. */
const SPEC = {
  name: "cached",
  jobs: [
    {
      name: "first",
      type: "static",
      tasks: FILES.map((f) => ({
        function: "hello.prepend",
        args: { input: `input/${f}`, output: `mid/${f}` },
      })),
    },
    {
      name: "second",
      type: "static",
      dependencies: ["first"],
      tasks: FILES.map((f) => ({
        function: "hello.prepend",
        args: { input: `mid/${f}`, output: `out/${f}` },
      })),
    },
  ],
};

/** A run's task Jobs or pods (not its controller), by kt job. */
async function taskObjects(kube: KubeClient, runId: string, kind: "jobs" | "pods") {
  const path = kind === "jobs"
    ? `/apis/batch/v1/namespaces/${NS}/jobs`
    : `/api/v1/namespaces/${NS}/pods`;
  const list = await kube.request<Obj>("GET", path, {
    query: { labelSelector: `${LABELS.runId}=${runId},${LABELS.component}=job` },
  });
  const by: Record<string, Obj[]> = {};
  for (const item of list.items) (by[item.metadata.labels[LABELS.job]] ??= []).push(item);
  return by;
}

async function decisions(dataDir: string, runId: string, job: string): Promise<CacheDecision[]> {
  const text = await Deno.readTextFile(`${dataDir}/kt-metadata/${runId}/cache/${job}.json`);
  const parsed = JSON.parse(text);
  return (Array.isArray(parsed) ? parsed : parsed.decisions) as CacheDecision[];
}

suite.test("run --cache on Kubernetes: a rerun makes no pod; a changed input reruns its tasks only", async ({ cluster, kube }) => {
  await applyRbac(kube, NS);
  const { dir, path } = await specFile(SPEC);
  try {
    const dataDir = `${dir}/data`;
    await Deno.mkdir(`${dataDir}/input`, { recursive: true });
    for (const f of FILES) await Deno.writeTextFile(`${dataDir}/input/${f}`, `line of ${f}\n`);
    await writableByPods(dataDir);
    const run = async () => {
      const result = await ktDeno(
        ["run", path, "--cache", "--image", IMAGE, "--data-dir", dataDir, "--wait"],
        dir,
        { KUBECONFIG: cluster.kubeconfigPath },
      );
      assert.equal(result.code, 0, result.stdout + result.stderr);
      const runId = runIdOf(result.stdout);
      assert.equal((await stateOf(dataDir, runId)).status, "Completed");
      const pods = await taskObjects(kube, runId, "pods");
      const jobs = await taskObjects(kube, runId, "jobs");
      const count = (by: Record<string, Obj[]>) => Object.values(by).flat().length;
      console.log(`run ${runId}: ${count(jobs)} task Jobs, ${count(pods)} task pods`);
      return { runId, pods, jobs, count };
    };

    // The first run runs every task, each in its pod, and stores its entry.
    const first = await run();
    assert.equal(first.count(first.pods), 6);
    assert.equal(
      await Deno.readTextFile(`${dataDir}/out/b.txt`),
      "Hello World: Hello World: line of b.txt\n",
    );
    for (const job of ["first", "second"]) {
      const decided = await decisions(dataDir, first.runId, job);
      assert.deepEqual(decided.map((d) => d.outcome), ["ran", "ran", "ran"]);
      assert.ok(
        decided.every((d) => d.key),
        `${job}: every task stored: ${JSON.stringify(decided)}`,
      );
    }

    // Nothing changed: no task Job, no task pod; every task is shown cached.
    const second = await run();
    assert.equal(second.count(second.jobs), 0);
    assert.equal(second.count(second.pods), 0);
    for (const job of ["first", "second"]) {
      const decided = await decisions(dataDir, second.runId, job);
      assert.deepEqual(decided.map((d) => d.outcome), ["cached", "cached", "cached"]);
    }
    const status = await ktDeno(["status", second.runId, "--data-dir", dataDir], dir);
    assert.match(status.stdout, /first: 3 cached, 0 ran/);
    assert.match(status.stdout, /second: 3 cached, 0 ran/);

    // input/b.txt changed: b's task of each job runs, in a Job of that one task.
    await Deno.writeTextFile(`${dataDir}/input/b.txt`, "a new line of b.txt\n");
    const third = await run();
    assert.equal(third.count(third.pods), 2);
    for (const job of ["first", "second"]) {
      assert.equal(third.jobs[job].length, 1);
      assert.equal(third.jobs[job][0].spec.completions, 1);
      assert.equal(third.pods[job].length, 1);
      const decided = await decisions(dataDir, third.runId, job);
      const byIndex = Object.fromEntries(decided.map((d) => [d.index, d]));
      assert.equal(byIndex[0].outcome, "cached");
      assert.equal(byIndex[2].outcome, "cached");
      assert.equal(byIndex[1].outcome, "ran");
      assert.ok(byIndex[1].key, "the rerun task stored its new entry");
    }
    assert.match(
      byWhy(await decisions(dataDir, third.runId, "first")),
      /input input\/b.txt changed/,
    );
    assert.equal(
      await Deno.readTextFile(`${dataDir}/out/b.txt`),
      "Hello World: Hello World: a new line of b.txt\n",
    );
    const log = await Deno.readTextFile(`${dataDir}/kt-metadata/${third.runId}/logs/second/1.log`)
      .catch(() => "");
    assert.doesNotMatch(log, /cached, not run/, "task 1's pod ran it");

    // And once more: all cached again.
    const fourth = await run();
    assert.equal(fourth.count(fourth.pods), 0);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

suite.test("run --cache on Kubernetes: a controller killed while a Job runs; the next one adopts the Job and its decisions", async ({ cluster, kube }) => {
  await applyRbac(kube, NS);
  // Task 0 is answered from its entry; task 1 waits in its pod for the file `go`.
  const { dir, path } = await specFile({
    name: "adopted",
    jobs: [{
      name: "slow",
      type: "static",
      tasks: [
        { function: "hello.prepend", args: { input: "input/a.txt", output: "mid/a.txt" } },
        { function: "report_steps.waitForFile", args: { path: "go", started: "started" } },
      ],
    }],
  });
  try {
    const dataDir = `${dir}/data`;
    await Deno.mkdir(`${dataDir}/input`, { recursive: true });
    await Deno.writeTextFile(`${dataDir}/input/a.txt`, "line of a\n");
    await Deno.writeTextFile(`${dataDir}/go`, "");
    await writableByPods(dataDir);
    const args = ["run", path, "--cache", "--image", IMAGE, "--data-dir", dataDir, "--wait"];
    const env = { KUBECONFIG: cluster.kubeconfigPath };
    const first = await ktDeno(args, dir, env);
    assert.equal(first.code, 0, first.stdout + first.stderr);

    await Deno.remove(`${dataDir}/go`);
    await Deno.remove(`${dataDir}/started`);
    const launcher = spawnKtDeno(args, dir, env);
    const output = Promise.all([
      new Response(launcher.stdout).text(),
      new Response(launcher.stderr).text(),
      launcher.status,
    ]);
    const runId = await until<string>("the run id", 60, async () => {
      for await (const e of Deno.readDir(`${dataDir}/kt-metadata`)) {
        if (e.name !== runIdOf(first.stdout) && e.name.startsWith("ktpr")) return e.name;
      }
    });
    await until("task 1 to start in its pod", 120, () => exists(`${dataDir}/started`));
    const pods = await kube.request<Obj>("GET", `/api/v1/namespaces/${NS}/pods`, {
      query: { labelSelector: `job-name=kt-controller-${runId}` },
    });
    const pod = pods.items.find((p: Obj) => p.status?.phase === "Running")?.metadata.name;
    assert.ok(pod, "the controller's pod runs");
    await kube.request("DELETE", `/api/v1/namespaces/${NS}/pods/${pod}`, {
      body: { apiVersion: "v1", kind: "DeleteOptions", gracePeriodSeconds: 0 },
    });
    // The next controller pod is up (the Job made another): then task 1 may end.
    await until("another controller pod to run", 120, async () => {
      const now = await kube.request<Obj>("GET", `/api/v1/namespaces/${NS}/pods`, {
        query: { labelSelector: `job-name=kt-controller-${runId}` },
      });
      return now.items.some((p: Obj) =>
        p.metadata.name !== pod && p.status?.containerStatuses?.[0]?.state?.running
      );
    });
    await Deno.writeTextFile(`${dataDir}/go`, "");
    const [stdout, stderr, status] = await output;
    assert.equal(status.code, 0, stdout + stderr);
    assert.equal((await stateOf(dataDir, runId)).status, "Completed");
    const jobs = await taskObjects(kube, runId, "jobs");
    assert.equal(jobs.slow.length, 1, "one Job, adopted, not made twice");
    assert.equal(jobs.slow[0].spec.completions, 1, "the Job runs task 1 only");
    const decided = await decisions(dataDir, runId, "slow");
    assert.deepEqual(decided.map((d) => [d.index, d.outcome]), [[0, "cached"], [1, "ran"]]);
    assert.match(decided[1].why, /^input go (appeared|changed)|^input go was removed/);
    assert.ok(decided[1].key, `task 1 stored its entry: ${JSON.stringify(decided)}`);
    const why = await ktDeno(["why", runId, "slow", "--data-dir", dataDir], dir);
    assert.match(why.stdout, /slow\/0: cached: its entry holds\nslow\/1: ran: /);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

function byWhy(decided: CacheDecision[]): string {
  return decided.map((d) => `${d.index}: ${d.why}`).join("\n");
}

suite.end();
