/**
 * Pipelines whose data dir is in GCS (a real fake-gcs-server) or Azure Blob (a real Azurite),
 * run locally with `kt-deno run`; and the data dirs that cannot be used, each one exit 2
 * before anything runs, naming what to set.
 */
import assert from "node:assert/strict";
import type { StateDocument } from "../src/engine/state.ts";
import { statePath } from "../src/records/layout.ts";
import { DataFs } from "../src/storage/data_fs.ts";
import { openStorage } from "../src/storage/open.ts";
import { type Azurite, startAzurite } from "./azurite/harness.ts";
import { ktDeno, runIdOf, specFile } from "./cli_helpers.ts";
import { type FakeGcs, startFakeGcs } from "./gcs/harness.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const EXAMPLE = `${ROOT}examples/hello-world`;
const settings = { sanitizeOps: false, sanitizeResources: false };

let gcs: Promise<FakeGcs> | undefined;
let azurite: Promise<Azurite> | undefined;
const servers = {
  gs: async () => {
    const server = await (gcs ??= startFakeGcs());
    return { url: `gs://${server.bucket}`, env: server.env };
  },
  az: async () => {
    const server = await (azurite ??= startAzurite());
    return { url: `az://${server.container}`, env: server.env };
  },
};

/** The data dir seen through kt-deno's own driver, with the emulator's settings. */
function storeFs(dataDir: string, env: Record<string, string>): DataFs {
  for (const [key, value] of Object.entries(env)) Deno.env.set(key, value);
  return new DataFs(openStorage(dataDir));
}

for (const [scheme, start] of Object.entries(servers)) {
  Deno.test({
    name: `hello-world runs locally on a ${scheme}:// data dir`,
    ...settings,
    fn: async () => {
      const { url, env } = await start();
      const dataDir = `${url}/hello-${crypto.randomUUID().slice(0, 8)}`;
      const fs = storeFs(dataDir, env);
      const names: string[] = [];
      for await (const entry of Deno.readDir(`${EXAMPLE}/data/input`)) {
        await fs.write(
          `input/${entry.name}`,
          await Deno.readTextFile(`${EXAMPLE}/data/input/${entry.name}`),
        );
        names.push(entry.name);
      }
      names.sort();
      const { dir } = await specFile({});
      try {
        const result = await ktDeno(
          [
            "run",
            `${EXAMPLE}/pipeline.yaml`,
            "--functions",
            `${EXAMPLE}/kt_functions`,
            "--data-dir",
            dataDir,
          ],
          dir,
          env,
        );
        assert.equal(result.code, 0, result.stdout + result.stderr);
        const runId = runIdOf(result.stdout);
        assert.deepEqual(await fs.listdir("output"), names);
        for (const name of names) {
          const input = await fs.read(`input/${name}`);
          const expected = input.trimEnd().split("\n").map((l) => `Hello World: ${l}`).join("\n") +
            "\n";
          assert.equal(await fs.read(`output/${name}`), expected);
        }
        const state = await fs.readJson<StateDocument>(statePath(runId));
        assert.equal(state.status, "Completed");
        assert.ok(await fs.exists(`kt-metadata/${runId}/report.html`));
        const status = await ktDeno(
          ["status", runId, "--data-dir", dataDir, "-o", "json"],
          dir,
          env,
        );
        assert.equal(JSON.parse(status.stdout).status, "Completed", status.stderr);
        const logs = await ktDeno(["logs", runId, "--data-dir", dataDir], dir, env);
        assert.equal(logs.code, 0, logs.stderr);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  });
}

Deno.test({
  name: "a data dir that cannot be used is exit 2 before anything runs, naming what to set",
  ...settings,
  fn: async () => {
    const gs = await servers.gs();
    const az = await servers.az();
    const { dir, path } = await specFile({
      name: "p",
      jobs: [{ name: "a", type: "static", tasks: [{ command: ["true"] }] }],
    });
    // the runs inherit this process's environment: no store settings in it, only in `env`
    const inherited = ["STORAGE_EMULATOR_HOST", "AZURE_STORAGE_CONNECTION_STRING"];
    for (const name of inherited) Deno.env.delete(name);
    const none = {};
    const cases: [string, Record<string, string>, RegExp][] = [
      [
        "ftp://host/x",
        none,
        /unsupported scheme ftp:\/\/ \(expected a local path, s3:\/\/bucket\/prefix, gs:\/\/bucket\/prefix, az:\/\/container\/prefix/,
      ],
      [
        "gs://Not_A_Bucket!/x",
        gs.env,
        /not a GCS data dir: "gs:\/\/Not_A_Bucket!\/x" \(expected gs:\/\/bucket\/prefix/,
      ],
      ["gs:///x", gs.env, /not a GCS data dir/],
      [
        "az://ab/x",
        az.env,
        /not an Azure data dir: "az:\/\/ab\/x" \(expected az:\/\/container\/prefix/,
      ],
      ["abfs://data@not an account/x", az.env, /not an Azure data dir/],
      [
        "gs://no-such-bucket/x",
        gs.env,
        /GCS 404 for gs:\/\/no-such-bucket\/x: the bucket no-such-bucket does not exist/,
      ],
      [
        "az://no-such-container/x",
        az.env,
        /Azure ContainerNotFound for az:\/\/no-such-container\/x: the container no-such-container does not exist/,
      ],
      [
        `${az.url}/x`,
        none,
        /no Azure credentials for az:\/\/kt-test\/x: set AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT with AZURE_STORAGE_KEY/,
      ],
      [
        `${gs.url}/x`,
        { ...none, GOOGLE_APPLICATION_CREDENTIALS: `${dir}/missing-key.json` },
        /for gs:\/\/kt-test\/x: no usable credentials: .*\(set GOOGLE_APPLICATION_CREDENTIALS to a service account key file/,
      ],
    ];
    try {
      for (const [dataDir, env, message] of cases) {
        const run = await ktDeno(["run", path, "--data-dir", dataDir], dir, env);
        assert.equal(run.code, 2, `${dataDir}: ${run.stderr}`);
        assert.match(run.stderr, new RegExp(`^kt-deno: data dir .* cannot be used: `));
        assert.match(run.stderr, message);
        assert.equal(run.stdout, "", "nothing runs, so no run id is printed");
        if (/scheme|not a|not an/.test(message.source)) {
          const status = await ktDeno(["status", "ktpr00000000", "--data-dir", dataDir], dir, env);
          assert.equal(status.code, 2, `status on ${dataDir}: ${status.stderr}`);
          assert.match(status.stderr, message);
        }
      }
      assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["pipeline.yaml"]);
      const empty = await ktDeno(["run", path, "--data-dir", `${gs.url}/x`], dir, {
        STORAGE_EMULATOR_HOST: "",
      });
      assert.equal(empty.code, 2, empty.stderr);
      assert.match(empty.stderr, /STORAGE_EMULATOR_HOST is empty: unset it, or give the emulator/);
      for (const [url, env] of [[gs.url, gs.env], [az.url, az.env]] as const) {
        assert.equal(await storeFs(url, env).exists("x"), false, `nothing written in ${url}/x`);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "(fake-gcs-server and Azurite stop)",
  ...settings,
  fn: async () => {
    for (
      const server of [
        await gcs?.catch(() => undefined),
        await azurite?.catch(() => undefined),
      ]
    ) {
      await server?.stop();
    }
  },
});
