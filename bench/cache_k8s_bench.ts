/**
 * Incremental runs on the test cluster's real node (tests/cluster): one static job of N
 * tasks (default 1,000, one pod a task unless `--per-pod`), each `hello.prepend` of its own
 * input file, run with `kt-deno run --cache --image ... --wait` three times: a first run
 * (every task runs in its pod and stores its entry), the same again with nothing changed,
 * and again after one input file changed. For each run: the wall time of the command, and
 * the run's task Jobs and task pods, and its controller pods, counted through the API
 * server once the run ended.
 *
 *     deno run -A bench/cache_k8s_bench.ts [--tasks 1000] [--per-pod 1]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { KubeClient, kubeconfigConnection } from "../src/k8s/client.ts";
import { LABELS } from "../src/k8s/names.ts";
import { startCluster } from "../tests/cluster/cluster.ts";
import { applyRbac, writableByPods } from "../tests/cluster/harness.ts";
import { testImage } from "../tests/cluster/images.ts";

// deno-lint-ignore no-explicit-any
type Obj = any;

const { values } = parseArgs({
  args: Deno.args,
  options: {
    tasks: { type: "string", default: "1000" },
    "per-pod": { type: "string", default: "1" },
  },
});
const TASKS = Number(values.tasks);
const PER_POD = Number(values["per-pod"]);
const ROOT = new URL("..", import.meta.url).pathname;
const NS = "default";
/** The image of tests/cache_cluster_test.ts (same name and folders: built once for both). */
const FUNCTIONS_IMAGE = await testImage("e2e", [
  `${ROOT}tests/fixtures/kt_functions`,
  `${ROOT}examples/hello-world/kt_functions`,
]);
const IMAGE = FUNCTIONS_IMAGE.ref;

const work = await Deno.makeTempDir({ prefix: "kt-bench-cache-k8s-" });
const dataDir = `${work}/data`;
const cluster = await startCluster({ images: [FUNCTIONS_IMAGE] });
Deno.env.set("KUBECONFIG", cluster.kubeconfigPath);
const kube = new KubeClient(await kubeconfigConnection());

/** How many of a run's objects the API server lists, by label selector. */
async function count(path: string, selector: string): Promise<number> {
  let total = 0;
  let next: string | undefined;
  do {
    const page = await kube.request<Obj>("GET", path, {
      query: { labelSelector: selector, limit: "500", ...(next ? { continue: next } : {}) },
    });
    total += page.items.length;
    next = page.metadata?.continue || undefined;
  } while (next);
  return total;
}

interface Measured {
  runId: string;
  seconds: number;
  jobs: number;
  pods: number;
  controllerPods: number;
  cache: string;
}

async function run(): Promise<Measured> {
  const started = performance.now();
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--quiet",
      "--config",
      `${ROOT}deno.json`,
      `${ROOT}main.ts`,
      "run",
      `${work}/spec.json`,
      "--cache",
      "--image",
      IMAGE,
      "--controller-image",
      IMAGE,
      "--data-dir",
      dataDir,
      "--wait",
    ],
  }).output();
  const seconds = (performance.now() - started) / 1000;
  const text = new TextDecoder().decode(output.stdout);
  if (output.code !== 0) {
    throw new Error(`run failed:\n${text}\n${new TextDecoder().decode(output.stderr)}`);
  }
  const runId = /run id: (\S+)/.exec(text)![1];
  const tasks = `${LABELS.runId}=${runId},${LABELS.component}=job`;
  const status = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", `${ROOT}main.ts`, "status", runId, "--data-dir", dataDir],
  }).output();
  const cache = /cache: .*/.exec(new TextDecoder().decode(status.stdout))?.[0] ?? "";
  return {
    runId,
    seconds,
    jobs: await count(`/apis/batch/v1/namespaces/${NS}/jobs`, tasks),
    pods: await count(`/api/v1/namespaces/${NS}/pods`, tasks),
    controllerPods: await count(`/api/v1/namespaces/${NS}/pods`, `job-name=kt-controller-${runId}`),
    cache,
  };
}

try {
  await applyRbac(kube, NS);
  await Deno.mkdir(`${dataDir}/input`, { recursive: true });
  for (let i = 0; i < TASKS; i++) {
    await Deno.writeTextFile(`${dataDir}/input/${i}.txt`, `line ${i}\n`);
  }
  await writableByPods(dataDir);
  await Deno.writeTextFile(
    `${work}/spec.json`,
    JSON.stringify({
      name: "bench-cache",
      jobs: [{
        name: "prepend",
        type: "static",
        cpu: "10m",
        memory: "64Mi",
        ...(PER_POD > 1 ? { tasks_per_pod: PER_POD } : {}),
        tasks: Array.from({ length: TASKS }, (_, i) => ({
          function: "hello.prepend",
          args: { input: `input/${i}.txt`, output: `out/${i}.txt` },
        })),
      }],
    }),
  );
  const first = await run();
  const again = await run();
  await Deno.writeTextFile(`${dataDir}/input/7.txt`, "a changed line\n");
  const changed = await run();
  const line = (name: string, m: Measured) =>
    `${name}: ${
      m.seconds.toFixed(1)
    } s, ${m.jobs} task Jobs, ${m.pods} task pods, ${m.controllerPods} controller pod(s); ${m.cache}`;
  console.log(`${TASKS} tasks of hello.prepend, tasks_per_pod ${PER_POD}`);
  console.log(line("first run", first));
  console.log(line("nothing changed", again));
  console.log(
    `  = ${(100 * again.seconds / first.seconds).toFixed(1)} % of the first run's time`,
  );
  console.log(line("one input changed", changed));
  const load = await Deno.readTextFile("/proc/loadavg").catch(() => "");
  console.log(`load average at the end: ${load.split(" ").slice(0, 3).join(" ")}`);
} finally {
  kube.close();
  await cluster.stop();
  await Deno.remove(work, { recursive: true }).catch(() => {});
}
