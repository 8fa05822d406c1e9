/**
 * Faults on the test cluster's real node: the controller killed several times in one run
 * and in another run at other points, the API server stopped and started again under
 * `run --wait`, and MinIO stopped under an s3:// data dir for longer than the SDK's own
 * retries. Each run must complete; each test prints what the recovery took.
 *
 * Every kill waits for an event (a state write, a Job, a running controller container);
 * the outages last until an event shows the fault was met, deadlines are safety nets.
 */
import assert from "node:assert/strict";
import type { KubeClient } from "../../src/k8s/client.ts";
import { LABELS } from "../../src/k8s/names.ts";
import type { StateDocument } from "../../src/engine/state.ts";
import { DataFs } from "../../src/storage/data_fs.ts";
import { S3Driver } from "../../src/storage/s3.ts";
import { FIXTURE_FUNCTIONS, spawnKtDeno, specFile, stateOf } from "../cli_helpers.ts";
import {
  applyRbac,
  type ClusterContext,
  clusterSuite,
  podLog,
  writableByPods,
} from "../cluster/harness.ts";
import { testImage } from "../cluster/images.ts";
import { type Minio, startMinio } from "../minio/harness.ts";
import { until } from "../until.ts";

// deno-lint-ignore no-explicit-any
type Obj = any;

const FUNCTIONS_IMAGE = await testImage("faults", [FIXTURE_FUNCTIONS]);
const IMAGE = FUNCTIONS_IMAGE.ref;
const IMAGES = ["--image", IMAGE, "--controller-image", IMAGE];
const NS = "default";
const temporary: string[] = [];
let minio: Promise<Minio> | undefined;

const suite = clusterSuite({ images: [FUNCTIONS_IMAGE] });

const mark = (name: string, ms = 0) => ({ function: "steps.mark", args: { name, ms } });
/** A task that marks, then waits for `gates/<gate>` in the data dir. */
const gated = (name: string, gate: string) => ({ function: "faults.gated", args: { name, gate } });

/**
 * A dynamic job (held by the gate `gen`, with children) and static jobs in three layers
 * after it (the first held by the gate `l1`, the second by `l2`); every task marks.
 */
const PIPELINE = {
  name: "kills",
  jobs: [
    {
      name: "gen",
      type: "dynamic",
      function: "faults.gated",
      args: {
        name: "gen",
        gate: "gen",
        jobs: [
          { name: "child-a", type: "static", tasks: [mark("child-a")] },
          { name: "child-b", type: "static", tasks: [mark("child-b-0"), mark("child-b-1")] },
          { name: "grandchild", type: "static", dependencies: ["child-a"], tasks: [mark("gc")] },
        ],
      },
    },
    {
      name: "l1-a",
      type: "static",
      dependencies: ["gen"],
      tasks: [gated("l1-a-0", "l1"), gated("l1-a-1", "l1")],
    },
    { name: "l1-b", type: "static", dependencies: ["gen"], tasks: [gated("l1-b", "l1")] },
    {
      name: "l2",
      type: "static",
      dependencies: ["l1-a", "l1-b"],
      tasks: [gated("l2-0", "l2"), gated("l2-1", "l2")],
    },
    { name: "l3", type: "static", dependencies: ["l2"], tasks: [mark("l3")] },
  ],
};
const MARKS = ["gen", "child-a", "child-b-0", "child-b-1", "gc", "l1-a-0", "l1-a-1", "l1-b"]
  .concat(["l2-0", "l2-1", "l3"]);
const JOBS = ["child-a", "child-b", "gen", "grandchild", "l1-a", "l1-b", "l2", "l3"];

async function marks(dataDir: string, name: string): Promise<number> {
  const text = await Deno.readTextFile(`${dataDir}/marks/${name}`).catch(() => "");
  return text.split("\n").filter(Boolean).length;
}

async function onlyRunId(dataDir: string): Promise<string | undefined> {
  for await (const entry of Deno.readDir(`${dataDir}/kt-metadata`)) return entry.name;
}

/** The name of the controller's pod while its container runs. */
async function runningController(kube: KubeClient, runId: string): Promise<string | undefined> {
  const pods = await kube.request<Obj>("GET", `/api/v1/namespaces/${NS}/pods`, {
    query: { labelSelector: `job-name=kt-controller-${runId}` },
  });
  return pods.items.find((p: Obj) =>
    !p.metadata.deletionTimestamp && p.status?.containerStatuses?.[0]?.state?.running
  )?.metadata.name;
}

/**
 * The run's task Jobs as they appear, polled while the run goes: every uid seen per name
 * (a Job created twice shows two) and when each name was first seen.
 */
function jobRecorder(kube: KubeClient, runId: string) {
  const uids = new Map<string, Set<string>>();
  const firstSeen = new Map<string, number>();
  let stopped = false;
  const poll = async () => {
    const list = await kube.request<Obj>("GET", `/apis/batch/v1/namespaces/${NS}/jobs`, {
      query: { labelSelector: `${LABELS.runId}=${runId},${LABELS.component}=job` },
    });
    for (const job of list.items) {
      const name = job.metadata.labels[LABELS.job];
      if (!uids.has(name)) uids.set(name, new Set()), firstSeen.set(name, Date.now());
      uids.get(name)!.add(job.metadata.uid);
    }
  };
  const loop = (async () => {
    while (!stopped) {
      await poll().catch(() => {});
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    await poll();
  })();
  return {
    uids,
    /** The first time a Job was seen after `since`, if one was. */
    jobAfter: (since: number) => Math.min(...[...firstSeen.values()].filter((t) => t > since)),
    stop: async () => {
      stopped = true;
      await loop;
    },
  };
}

/** What a kill point sees while it waits (the controller's container runs). */
interface RunView {
  state: StateDocument;
  /** The state was written after the previous kill. */
  written: boolean;
  /** The running controller has logged that it resumed the run. */
  resumed(): Promise<boolean>;
  marked(name: string): Promise<boolean>;
}

/** One kill: when it happens, and which gate to open once the controller is dead. */
interface KillPoint {
  name: string;
  ready: (view: RunView) => boolean | Promise<boolean>;
  open?: string;
}

const summary = (state: StateDocument) =>
  Object.values(state.jobs).map((job) => `${job.name}:${job.status[0]}`).join(" ");

/**
 * Runs PIPELINE with --wait and kills its controller at each point in turn (its pod deleted
 * with no grace period: the node kills the process at once), opening the gates the point
 * names after the kill and `open` (the gates no point holds) at the start. Returns the
 * run's outcome and, per kill, when a controller ran again and the recovery: kill → the
 * next state write or new Job.
 */
async function killedRun(
  { cluster, kube }: ClusterContext,
  points: KillPoint[],
  open: string[],
) {
  await applyRbac(kube, NS);
  const { dir, path } = await specFile(PIPELINE);
  temporary.push(dir);
  const dataDir = `${dir}/data`;
  const openGate = (gate: string) => Deno.writeTextFile(`${dataDir}/gates/${gate}`, "");
  await Deno.mkdir(`${dataDir}/gates`, { recursive: true });
  for (const gate of open) await openGate(gate);
  await writableByPods(dataDir);
  const launcher = spawnKtDeno(["run", path, ...IMAGES, "--data-dir", dataDir, "--wait"], dir, {
    KUBECONFIG: cluster.kubeconfigPath,
  });
  const output = Promise.all([
    new Response(launcher.stdout).text(),
    new Response(launcher.stderr).text(),
    launcher.status,
  ]);
  const runId = await until<string>("the run id", 60, () => onlyRunId(dataDir));
  const jobs = jobRecorder(kube, runId);
  const kills: { point: string; at: string; restartS?: number; recoveryS?: number }[] = [];
  let killedAt = 0;
  const noteRecovery = (pod: string | undefined, state: StateDocument | undefined) => {
    const kill = kills.at(-1);
    if (!kill) return;
    if (kill.restartS === undefined && pod) kill.restartS = (Date.now() - killedAt) / 1000;
    if (kill.recoveryS !== undefined) return;
    const write = state && Date.parse(state.updated_at) > killedAt
      ? Date.parse(state.updated_at)
      : Infinity;
    const first = Math.min(write, jobs.jobAfter(killedAt));
    if (first !== Infinity) kill.recoveryS = (first - killedAt) / 1000;
  };
  try {
    for (const point of points) {
      const [pod, state] = await until<[string, StateDocument]>(
        `the kill point "${point.name}"`,
        600,
        async () => {
          const pod = await runningController(kube, runId);
          const state = await stateOf(dataDir, runId);
          noteRecovery(pod, state);
          if (!pod || state.status !== "Running") return undefined;
          const view: RunView = {
            state,
            written: Date.parse(state.updated_at) > killedAt,
            resumed: async () => (await podLog(cluster, pod)).includes(`resuming run ${runId}`),
            marked: async (name) => await marks(dataDir, name) > 0,
          };
          return await point.ready(view) && [pod, state];
        },
      );
      await kube.request("DELETE", `/api/v1/namespaces/${NS}/pods/${pod}`, {
        body: { apiVersion: "v1", kind: "DeleteOptions", gracePeriodSeconds: 0 },
      });
      killedAt = Date.now();
      kills.push({ point: point.name, at: summary(state) });
      if (point.open) await openGate(point.open);
    }
    await until("the run to end", 600, async () => {
      const state = await stateOf(dataDir, runId);
      noteRecovery(await runningController(kube, runId), state);
      return state.status !== "Running";
    });
    const [stdout, stderr, status] = await output;
    noteRecovery(undefined, await stateOf(dataDir, runId));
    return { runId, dataDir, kills, jobs: jobs.uids, stdout, stderr, code: status.code };
  } finally {
    await jobs.stop().catch(() => {});
  }
}

/** How many of a run's controller pods failed. */
async function failedControllers(kube: KubeClient, runId: string): Promise<number> {
  const job = await kube.request<Obj>(
    "GET",
    `/apis/batch/v1/namespaces/${NS}/jobs/kt-controller-${runId}`,
  );
  return job.status.failed ?? 0;
}

async function assertCleanRun(
  kube: KubeClient,
  run: Awaited<ReturnType<typeof killedRun>>,
  kills: number,
) {
  assert.equal(run.code, 0, run.stdout + run.stderr);
  const state = await stateOf(run.dataDir, run.runId);
  assert.equal(state.status, "Completed");
  assert.equal(state.jobs.gen.attempts, 1, "the dynamic job was submitted once");
  for (const name of MARKS) assert.equal(await marks(run.dataDir, name), 1, `${name} ran once`);
  assert.deepEqual([...run.jobs.keys()].sort(), JOBS);
  for (const [name, uids] of run.jobs) assert.equal(uids.size, 1, `Job ${name} created once`);
  assert.equal(
    await failedControllers(kube, run.runId),
    kills,
    "each kill cost one controller pod, no more",
  );
  for (const [i, kill] of run.kills.entries()) {
    const recovery = kill.recoveryS === undefined
      ? "killed again before it wrote"
      : `next state write or Job after ${kill.recoveryS.toFixed(1)} s`;
    console.log(
      `kill ${i + 1} (${kill.point}; state ${kill.at}): a controller ran again after ${
        kill.restartS?.toFixed(1) ?? "?"
      } s, ${recovery}`,
    );
  }
}

suite.test("the controller killed five times in one run: the run completes, nothing runs twice", async (context) => {
  const run = await killedRun(context, [
    {
      name: "after the dynamic job completed",
      ready: (v) => v.state.jobs.gen?.status === "Completed",
    },
    { name: "as the next controller starts", ready: () => true },
    {
      name: "in layer 1, once the next one resumed",
      ready: async (v) => await v.resumed() && await v.marked("l1-b"),
      open: "l1",
    },
    {
      name: "at the handover to layer 2",
      ready: (v) => v.written && v.state.jobs.l2?.status === "Running",
    },
    {
      name: "in layer 2, once the next one resumed",
      ready: async (v) => await v.resumed() && await v.marked("l2-0"),
      open: "l2",
    },
  ], ["gen"]);
  await assertCleanRun(context.kube, run, 5);
});

suite.test("the controller killed in another run at other points: during the dynamic job and in layer 1", async (context) => {
  const run = await killedRun(context, [
    { name: "while the dynamic job runs", ready: (v) => v.marked("gen"), open: "gen" },
    {
      name: "in layer 1, once the next one resumed",
      ready: async (v) => v.written && await v.resumed() && await v.marked("l1-a-0"),
      open: "l1",
    },
  ], ["l2"]);
  await assertCleanRun(context.kube, run, 2);
});

suite.test("the API server stopped and started again mid-run: --wait says so once and exits 0", async ({ cluster, kube }) => {
  await applyRbac(kube, NS);
  const { dir, path } = await specFile({
    name: "api-down",
    jobs: [
      {
        name: "a",
        type: "static",
        tasks: [{ function: "steps.sleep", args: { ms: 2000, name: "a" } }],
      },
      { name: "b", type: "static", dependencies: ["a"], tasks: [mark("b")] },
    ],
  });
  temporary.push(dir);
  const dataDir = `${dir}/data`;
  await Deno.mkdir(dataDir);
  await writableByPods(dataDir);
  const launcher = spawnKtDeno(["run", path, ...IMAGES, "--data-dir", dataDir, "--wait"], dir, {
    KUBECONFIG: cluster.kubeconfigPath,
  });
  let stderr = "";
  const output = Promise.all([
    new Response(launcher.stdout).text(),
    (async () => {
      for await (const text of launcher.stderr.pipeThrough(new TextDecoderStream())) {
        stderr += text;
      }
    })(),
    launcher.status,
  ]);
  const runId = await until<string>("job a to run", 60, async () => {
    const runId = await onlyRunId(dataDir);
    return runId && (await stateOf(dataDir, runId)).jobs.a?.status === "Running" && runId;
  });
  // Its pod running, not just its Job made: a pod not yet started waits for the API server.
  await until("task a's pod to run", 60, async () => {
    const pods = await kube.request<Obj>("GET", `/api/v1/namespaces/${NS}/pods`, {
      query: { labelSelector: `${LABELS.runId}=${runId},${LABELS.job}=a` },
    });
    return pods.items.some((pod: Obj) => pod.status?.phase === "Running");
  });
  await cluster.stopApiServer();
  const stoppedAt = Date.now();
  await until("the launcher's waiting line", 60, () => stderr.includes("unreachable"));
  // Job a ends while nobody can tell the API server.
  await until("task a to finish", 60, () => Deno.stat(`${dataDir}/spans/a`));
  await cluster.restartApiServer();
  const backAt = Date.now();
  const jobB = await until<Obj>("job b to be created", 300, async () => {
    const list = await kube.request<Obj>("GET", `/apis/batch/v1/namespaces/${NS}/jobs`, {
      query: { labelSelector: `${LABELS.runId}=${runId},${LABELS.job}=b` },
    });
    return list.items[0];
  });
  const jobAt = Date.now();
  const [stdout, , status] = await output;
  assert.equal(status.code, 0, stdout + stderr);
  assert.equal(stderr.match(/API server unreachable, retrying \.\.\./g)?.length, 1, stderr);
  assert.match(stdout, new RegExp(`run ${runId} Completed`));
  const state = await stateOf(dataDir, runId);
  assert.equal(state.status, "Completed");
  assert.equal(await marks(dataDir, "b"), 1);
  assert.ok(jobB.metadata.uid);
  const node = await kube.request<Obj>("GET", `/api/v1/nodes/${cluster.nodeName}`);
  assert.ok(
    node.status.conditions.some((c: Obj) => c.type === "Ready" && c.status === "True"),
    "the node is Ready again",
  );
  assert.equal(await failedControllers(kube, runId), 0, "the controller rode it out in its pod");
  console.log(
    `API server down ${((backAt - stoppedAt) / 1000).toFixed(1)} s (stop → ready again); ` +
      `next Job ${((jobAt - backAt) / 1000).toFixed(1)} s after it was back`,
  );
});

suite.test("MinIO stopped for 30 s under an s3:// data dir on the cluster: the run completes", async ({ cluster, kube }) => {
  const s = await (minio = startMinio("kt-faults", cluster.nodeIp));
  await applyRbac(kube, NS);
  await kube.request("POST", `/api/v1/namespaces/${NS}/secrets`, {
    body: {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "faults-minio" },
      stringData: { AWS_ACCESS_KEY_ID: s.accessKey, AWS_SECRET_ACCESS_KEY: s.secretKey },
    },
  });
  const prefix = "outage";
  const dataDir = `s3://${s.bucket}/${prefix}`;
  for (const [key, value] of Object.entries(s.env)) Deno.env.set(key, value);
  const fs = new DataFs(new S3Driver(dataDir));
  const { dir, path } = await specFile({
    name: "s3-down",
    jobs: [
      { name: "a", type: "static", tasks: [mark("a", 3000)] },
      { name: "b", type: "static", dependencies: ["a"], tasks: [mark("b")] },
    ],
  });
  temporary.push(dir);
  const launcher = spawnKtDeno(
    [
      "run",
      path,
      ...IMAGES,
      "--data-dir",
      dataDir,
      "--s3-endpoint",
      s.endpoint,
      "--s3-path-style",
      "--secret-env",
      "faults-minio",
      "--wait",
    ],
    dir,
    { KUBECONFIG: cluster.kubeconfigPath, ...s.env },
  );
  const output = Promise.all([
    new Response(launcher.stdout).text(),
    new Response(launcher.stderr).text(),
    launcher.status,
  ]);
  const runId = await until<string>("task a to run", 90, async () => {
    if (!(await fs.exists("marks/a"))) return undefined;
    return (await fs.listdir("kt-metadata"))[0]?.replace(/\/$/, "");
  });
  await s.halt();
  const stoppedAt = Date.now();
  const controllerPod = async () =>
    (await kube.request<Obj>("GET", `/api/v1/namespaces/${NS}/pods`, {
      query: { labelSelector: `job-name=kt-controller-${runId}` },
    })).items[0].metadata.name;
  // The fault is met: the controller's write of a's completion retries.
  await until("the controller to retry its data dir", 120, async () => {
    const log = await podLog(cluster, await controllerPod());
    return /unreachable, retrying for up to \d+ s/.test(log);
  });
  await until("30 s of outage", 60, () => Date.now() >= stoppedAt + 30_000);
  await s.restart();
  const backAt = Date.now();
  const [stdout, stderr, status] = await output;
  const endedAt = Date.now();
  assert.equal(status.code, 0, stdout + stderr);
  const state = await fs.readJson<StateDocument>(`kt-metadata/${runId}/pipeline_run_state.json`);
  assert.equal(state.status, "Completed");
  assert.equal((await fs.read("marks/a")).split("\n").filter(Boolean).length, 1, "a ran once");
  assert.equal((await fs.read("marks/b")).split("\n").filter(Boolean).length, 1, "b ran once");
  const log = await podLog(cluster, await controllerPod());
  assert.match(log, /reachable again after/);
  assert.equal(await failedControllers(kube, runId), 0, "the controller rode it out in its pod");
  console.log(
    `MinIO down ${((backAt - stoppedAt) / 1000).toFixed(1)} s; the run ended ${
      ((endedAt - backAt) / 1000).toFixed(1)
    } s after it was back`,
  );
});

suite.end();

Deno.test({
  name: "(MinIO stops, temporary folders removed)",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await (await minio?.catch(() => undefined))?.stop();
    for (const dir of temporary) await Deno.remove(dir, { recursive: true }).catch(() => {});
  },
});
