/**
 * Pipelines whose data dir is in GCS or Azure Blob, on the test cluster's real node: the
 * controller and the pods read and write a fake-gcs-server and an Azurite that listen on the
 * node IP, where pods reach them. GCS's emulator setting reaches the pods as plain
 * environment; Azure's connection string (a secret) by `--secret-env`.
 */
import assert from "node:assert/strict";
import type { StateDocument } from "../src/engine/state.ts";
import { statePath } from "../src/records/layout.ts";
import { DataFs } from "../src/storage/data_fs.ts";
import { openStorage } from "../src/storage/open.ts";
import { type Azurite, startAzurite } from "./azurite/harness.ts";
import { ktDeno, runIdOf, specFile } from "./cli_helpers.ts";
import { applyRbac, clusterSuite } from "./cluster/harness.ts";
import { testImage } from "./cluster/images.ts";
import { type FakeGcs, startFakeGcs } from "./gcs/harness.ts";
import { until } from "./until.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const EXAMPLE = `${ROOT}examples/hello-world`;
const settings = { sanitizeOps: false, sanitizeResources: false };

let gcs: Promise<FakeGcs> | undefined;
let azurite: Promise<Azurite> | undefined;
const temporary: string[] = [];

/** The data dir seen through kt-deno's own driver, with the emulator's settings. */
function storeFs(dataDir: string, env: Record<string, string>): DataFs {
  for (const [key, value] of Object.entries(env)) Deno.env.set(key, value);
  return new DataFs(openStorage(dataDir));
}

async function seedHello(fs: DataFs): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(`${EXAMPLE}/data/input`)) {
    const text = await Deno.readTextFile(`${EXAMPLE}/data/input/${entry.name}`);
    await fs.write(`input/${entry.name}`, text);
    names.push(entry.name);
  }
  return names.sort();
}

async function assertHelloOutputs(fs: DataFs, names: string[], runId: string) {
  assert.deepEqual(await fs.listdir("output"), names);
  for (const name of names) {
    const input = await fs.read(`input/${name}`);
    const expected = input.trimEnd().split("\n").map((l) => `Hello World: ${l}`).join("\n") + "\n";
    assert.equal(await fs.read(`output/${name}`), expected);
  }
  const state = await fs.readJson<StateDocument>(statePath(runId));
  assert.equal(state.status, "Completed");
  for (const job of Object.values(state.jobs)) assert.equal(job.status, "Completed", job.name);
  // `--wait` ends at the final state; the controller writes its report just after
  await until("the controller's report", 60, () => fs.exists(`kt-metadata/${runId}/report.html`));
}

/** The env and envFrom of every Job of a run. */
async function jobContainers(
  kube: { request<T>(method: string, path: string, options?: object): Promise<T> },
  runId: string,
) {
  // deno-lint-ignore no-explicit-any
  const jobs = await kube.request<any>("GET", "/apis/batch/v1/namespaces/default/jobs", {
    query: { labelSelector: `kt-deno.dev/run-id=${runId}` },
  });
  assert.ok(jobs.items.length > 1, "the controller and the task jobs");
  return jobs.items.map((job: { spec: { template: { spec: { containers: unknown[] } } } }) => {
    const container = job.spec.template.spec.containers[0] as {
      env: { name: string; value?: string }[];
      envFrom?: unknown[];
    };
    return {
      env: Object.fromEntries(container.env.map((e) => [e.name, e.value])),
      envFrom: container.envFrom,
      labels: (job.spec.template as { metadata?: { labels?: Record<string, string> } }).metadata
        ?.labels ?? {},
    };
  });
}

const FUNCTIONS_IMAGE = await testImage("hello", [`${EXAMPLE}/kt_functions`]);
const IMAGE = FUNCTIONS_IMAGE.ref;
const suite = clusterSuite({ images: [FUNCTIONS_IMAGE] });

suite.test("hello-world on the cluster with a gs:// data dir (fake-gcs-server on the node IP)", async ({ cluster, kube }) => {
  const server = await (gcs = startFakeGcs("kt-test", cluster.nodeIp));
  await applyRbac(kube);
  const dataDir = `gs://${server.bucket}/cluster-hello`;
  const fs = storeFs(dataDir, server.env);
  const names = await seedHello(fs);
  const { dir } = await specFile({});
  temporary.push(dir);
  const result = await ktDeno(
    [
      "run",
      `${EXAMPLE}/pipeline.yaml`,
      "--image",
      IMAGE,
      "--controller-image",
      IMAGE,
      "--data-dir",
      dataDir,
      "--wait",
    ],
    dir,
    { KUBECONFIG: cluster.kubeconfigPath, ...server.env },
  );
  assert.equal(result.code, 0, result.stdout + result.stderr);
  const runId = runIdOf(result.stdout);
  await assertHelloOutputs(fs, names, runId);
  for (const { env } of await jobContainers(kube, runId)) {
    assert.equal(env.STORAGE_EMULATOR_HOST, server.endpoint);
  }
});

suite.test("hello-world on the cluster with an az:// data dir (Azurite on the node IP, --secret-env)", async ({ cluster, kube }) => {
  const server = await (azurite = startAzurite("kt-test", cluster.nodeIp));
  await applyRbac(kube);
  await kube.request("POST", "/api/v1/namespaces/default/secrets", {
    body: {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "azurite-credentials" },
      stringData: { AZURE_STORAGE_CONNECTION_STRING: server.connectionString },
    },
  });
  const dataDir = `az://${server.container}/cluster-hello`;
  const fs = storeFs(dataDir, server.env);
  const names = await seedHello(fs);
  const { dir } = await specFile({});
  temporary.push(dir);
  const result = await ktDeno(
    [
      "run",
      `${EXAMPLE}/pipeline.yaml`,
      "--image",
      IMAGE,
      "--controller-image",
      IMAGE,
      "--data-dir",
      dataDir,
      "--secret-env",
      "azurite-credentials",
      "--wait",
    ],
    dir,
    { KUBECONFIG: cluster.kubeconfigPath, ...server.env },
  );
  assert.equal(result.code, 0, result.stdout + result.stderr);
  const runId = runIdOf(result.stdout);
  await assertHelloOutputs(fs, names, runId);
  for (const { env, envFrom, labels } of await jobContainers(kube, runId)) {
    assert.deepEqual(envFrom, [{ secretRef: { name: "azurite-credentials" } }]);
    assert.equal(labels["azure.workload.identity/use"], "true");
    assert.equal(env.AZURE_STORAGE_CONNECTION_STRING, undefined, "no secret in the Job spec");
  }
});

suite.end();

Deno.test({
  name: "(emulators stop, temporary folders removed)",
  ...settings,
  fn: async () => {
    for (const started of [gcs, azurite]) await (await started?.catch(() => undefined))?.stop();
    for (const dir of temporary) await Deno.remove(dir, { recursive: true }).catch(() => {});
  },
});
