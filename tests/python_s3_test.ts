/**
 * Python task functions on an `s3://` data dir (a real MinIO server): kube-transform's
 * hello-world shape and every `kube_transform.fsutil` operation, through kt-deno's S3 driver
 * (Python has no fsspec or boto3 here).
 */
import assert from "node:assert/strict";
import { DataFs } from "../src/storage/data_fs.ts";
import { S3Driver } from "../src/storage/s3.ts";
import { ktDeno, runIdOf, specFile } from "./cli_helpers.ts";
import { type Minio, startMinio } from "./minio/harness.ts";

const settings = { sanitizeOps: false, sanitizeResources: false };
const ROOT = new URL("..", import.meta.url).pathname;
const EXAMPLE = `${ROOT}examples/kube-transform-hello`;
const PY_FIXTURES = `${ROOT}tests/fixtures/py_functions`;
let minio: Promise<Minio> | undefined;
const server = () => minio ??= startMinio();

async function bucketFs(prefix: string): Promise<{ fs: DataFs; dataDir: string; s: Minio }> {
  const s = await server();
  for (const [key, value] of Object.entries(s.env)) Deno.env.set(key, value);
  const dataDir = `s3://${s.bucket}/${prefix}`;
  return { fs: new DataFs(new S3Driver(dataDir)), dataDir, s };
}

Deno.test({
  name: "kube-transform-hello on an s3:// data dir: Python's fsutil through kt-deno's S3 driver",
  ...settings,
  fn: async () => {
    const { fs, dataDir, s } = await bucketFs("hello");
    const inputs = ["greek.txt", "name.txt", "numbers.txt"];
    for (const name of inputs) {
      await fs.write(`input/${name}`, await Deno.readTextFile(`${EXAMPLE}/data/input/${name}`));
    }
    const dir = await Deno.makeTempDir({ prefix: "kt-python-s3-" });
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
        s.env,
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
  name: "every kube_transform.fsutil operation on an s3:// data dir",
  ...settings,
  fn: async () => {
    const { fs, dataDir, s } = await bucketFs("tour");
    const { dir, path } = await specFile({
      name: "tour",
      jobs: [{ name: "tour", type: "static", tasks: [{ function: "steps.fsutil_tour" }] }],
    });
    try {
      const result = await ktDeno(
        ["run", path, "--functions", PY_FIXTURES, "--data-dir", dataDir],
        dir,
        s.env,
      );
      assert.equal(result.code, 0, result.stdout + result.stderr);
      const tour = JSON.parse(await fs.read("tour.json"));
      assert.deepEqual(tour, {
        bytes: [0, 1, 2],
        lines: ["line 1", "line 2"],
        read: "hello\nagain\n",
        listdir: ["a", "b.csv", "c.bin", "d.txt"],
        listdir_missing: [],
        isfile: [true, false],
        isdir: [true, false],
        exists: [true, false],
        stat: { size: 12, type: "file", name: `${s.bucket}/tour/tour/a/x.txt` },
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

Deno.test({
  name:
    "fsutil.open streams files of several megabytes to and from s3://; one left open is not written",
  ...settings,
  fn: async () => {
    const { fs, dataDir, s } = await bucketFs("big");
    const { dir, path } = await specFile({
      name: "big",
      jobs: [{
        name: "big",
        type: "static",
        tasks: [{ function: "steps.big_files", args: { target: "big.txt" } }],
      }],
    });
    try {
      const result = await ktDeno(
        ["run", path, "--functions", PY_FIXTURES, "--data-dir", dataDir],
        dir,
        s.env,
      );
      assert.equal(result.code, 0, result.stdout + result.stderr);
      assert.equal(await fs.read("big.txt"), "True 200000");
      assert.deepEqual(await fs.listdir("big"), ["data.bin", "lines.txt"]);
      assert.equal((await fs.stat("big/data.bin"))?.size, 1500 * 3001);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "stop MinIO",
  ...settings,
  fn: async () => {
    await (await minio?.catch(() => undefined))?.stop();
  },
});
