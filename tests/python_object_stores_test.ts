/**
 * Python task functions on `gs://` (a real fake-gcs-server) and `az://` (a real Azurite) data
 * dirs: kube-transform's hello-world shape and every `kube_transform.fsutil` operation, through
 * kt-deno's GCS and Azure drivers (Python has no cloud SDK here).
 */
import assert from "node:assert/strict";
import { DataFs } from "../src/storage/data_fs.ts";
import { openStorage } from "../src/storage/open.ts";
import { type Azurite, startAzurite } from "./azurite/harness.ts";
import { ktDeno, runIdOf, specFile } from "./cli_helpers.ts";
import { type FakeGcs, startFakeGcs } from "./gcs/harness.ts";

const settings = { sanitizeOps: false, sanitizeResources: false };
const ROOT = new URL("..", import.meta.url).pathname;
const EXAMPLE = `${ROOT}examples/kube-transform-hello`;
const PY_FIXTURES = `${ROOT}tests/fixtures/py_functions`;

let gcs: Promise<FakeGcs> | undefined;
let azurite: Promise<Azurite> | undefined;
const stores = {
  gs: async () => {
    const s = await (gcs ??= startFakeGcs());
    return { url: `gs://${s.bucket}`, env: s.env };
  },
  az: async () => {
    const s = await (azurite ??= startAzurite());
    return { url: `az://${s.container}`, env: s.env };
  },
};

for (const [scheme, start] of Object.entries(stores)) {
  const storeFs = async (prefix: string) => {
    const { url, env } = await start();
    for (const [key, value] of Object.entries(env)) Deno.env.set(key, value);
    const dataDir = `${url}/${prefix}-${crypto.randomUUID().slice(0, 8)}`;
    return { fs: new DataFs(openStorage(dataDir)), dataDir, env };
  };

  Deno.test({
    name: `kube-transform-hello on a ${scheme}:// data dir: Python's fsutil through kt-deno`,
    ...settings,
    fn: async () => {
      const { fs, dataDir, env } = await storeFs("hello");
      const inputs = ["greek.txt", "name.txt", "numbers.txt"];
      for (const name of inputs) {
        await fs.write(`input/${name}`, await Deno.readTextFile(`${EXAMPLE}/data/input/${name}`));
      }
      const dir = await Deno.makeTempDir({ prefix: "kt-python-store-" });
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
        runIdOf(result.stdout);
        assert.deepEqual(await fs.listdir("output"), inputs);
        for (const name of inputs) {
          const input = await Deno.readTextFile(`${EXAMPLE}/data/input/${name}`);
          const expected = input.trimEnd().split("\n").map((l) => `Hello World: ${l}\n`).join("");
          assert.equal(await fs.read(`output/${name}`), expected);
        }
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  });

  Deno.test({
    name: `every kube_transform.fsutil operation on a ${scheme}:// data dir`,
    ...settings,
    fn: async () => {
      const { fs, dataDir, env } = await storeFs("tour");
      const { dir, path } = await specFile({
        name: "tour",
        jobs: [{ name: "tour", type: "static", tasks: [{ function: "steps.fsutil_tour" }] }],
      });
      try {
        const result = await ktDeno(
          ["run", path, "--functions", PY_FIXTURES, "--data-dir", dataDir],
          dir,
          env,
        );
        assert.equal(result.code, 0, result.stdout + result.stderr);
        const tour = JSON.parse(await fs.read("tour.json"));
        assert.match(tour.stat.name, /\/tour\/a\/x\.txt$/);
        assert.deepEqual(tour, {
          bytes: [0, 1, 2],
          lines: ["line 1", "line 2"],
          read: "hello\nagain\n",
          listdir: ["a", "b.csv", "c.bin", "d.txt"],
          listdir_missing: [],
          isfile: [true, false],
          isdir: [true, false],
          exists: [true, false],
          stat: { size: 12, type: "file", name: tour.stat.name },
          glob: ["b.csv", "x.txt", "d.txt"],
          absolute: "1,2\n",
          mkdir_exists: "Directory tour/a already exists.",
          remove_missing: "FileNotFoundError",
          read_missing: "[Errno 2] No such file or directory: 'tour/none.txt'",
          after: ["c.bin", "d.txt"],
          join: "a/b/c.txt",
        });
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  });
}

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
