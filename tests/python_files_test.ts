/**
 * Python task functions use the data dir's files as fsspec's files are used, on all four
 * stores (a local folder, MinIO, fake-gcs-server, Azurite): a pandas/pyarrow parquet round
 * trip through `fs.open`, `zipfile`, `tarfile`, `compression=`, seeking and `readinto`,
 * atomic writes, `makedirs`/`copy`/`move`/`walk`; a parquet footer read that fetches the
 * footer and not the file (bytes counted at a proxy in front of each object store); a 1 GiB
 * file read by ranges while the worker's memory stays small (local and S3). The task functions are
 * `tests/fixtures/py_files/files.py`, run by `kt-deno run` with pandas' venv as `KT_PYTHON`.
 */
import assert from "node:assert/strict";
import { DataFs } from "../src/storage/data_fs.ts";
import { openStorage } from "../src/storage/open.ts";
import { type Azurite, startAzurite } from "./azurite/harness.ts";
import { ktDeno, specFile } from "./cli_helpers.ts";
import { type FakeGcs, startFakeGcs } from "./gcs/harness.ts";
import { type Minio, startMinio } from "./minio/harness.ts";
import { pandasPython } from "./pandas_venv.ts";
import { TcpProxy } from "./tcp_proxy.ts";

const settings = { sanitizeOps: false, sanitizeResources: false };
const FUNCTIONS = new URL("./fixtures/py_files", import.meta.url).pathname;
const MiB = 2 ** 20;

interface Store {
  url: string;
  env: Record<string, string>;
}

let minio: Promise<Minio> | undefined;
let gcs: Promise<FakeGcs> | undefined;
let azurite: Promise<Azurite> | undefined;
const stores: Record<string, () => Promise<Store>> = {
  local: async () => ({ url: await Deno.makeTempDir({ prefix: "kt-py-files-" }), env: {} }),
  s3: async () => {
    const s = await (minio ??= startMinio());
    return { url: `s3://${s.bucket}`, env: s.env };
  },
  gs: async () => {
    const s = await (gcs ??= startFakeGcs());
    return { url: `gs://${s.bucket}`, env: s.env };
  },
  az: async () => {
    const s = await (azurite ??= startAzurite());
    return { url: `az://${s.container}`, env: s.env };
  },
};

/** A fresh data dir on a store, its `fs` for the test, and the environment to reach it. */
async function dataDir(store: string) {
  const { url, env } = await stores[store]();
  for (const [key, value] of Object.entries(env)) Deno.env.set(key, value);
  const dir = store === "local" ? url : `${url}/files-${crypto.randomUUID().slice(0, 8)}`;
  const python = await pandasPython();
  return { dir, fs: new DataFs(openStorage(dir)), env: { ...env, KT_PYTHON: python } };
}

/** Runs one static job of Python tasks on a data dir; fails the test when the run fails. */
async function run(
  dir: string,
  env: Record<string, string>,
  tasks: { function: string; args?: Record<string, unknown> }[],
): Promise<void> {
  const spec = await specFile({
    name: "files",
    // The default memory (1Gi): pyarrow and the 1 GiB range read fit in it.
    jobs: [{ name: "files", type: "static", tasks }],
  });
  try {
    const result = await ktDeno(
      ["run", spec.path, "--functions", FUNCTIONS, "--data-dir", dir],
      spec.dir,
      env,
    );
    assert.equal(result.code, 0, result.stdout + result.stderr);
  } finally {
    await Deno.remove(spec.dir, { recursive: true });
  }
}

const TASKS = ["parquet", "zip_files", "tar_files", "compression", "seeking", "atomic", "folders"];

for (const store of Object.keys(stores)) {
  Deno.test({
    name: `${store}: parquet, zip, tar, gzip, seeks, atomic writes and folders from Python`,
    ...settings,
    fn: async () => {
      const { dir, fs, env } = await dataDir(store);
      await run(dir, env, TASKS.map((name) => ({ function: `files.${name}` })));
      const result = async (name: string) => JSON.parse(await fs.read(`results/${name}.json`));

      assert.deepEqual(await result("parquet"), {
        rows: 3000,
        sums: { Lima: 1499500, Oslo: 1498500, Pune: 1500500 },
      });
      assert.deepEqual(await result("zip"), {
        names: ["one.txt", "dir/two.bin"],
        one: "first\n",
        two: 102400,
      });
      const members = ["a.txt", "sub/b.bin", "c.txt"];
      assert.deepEqual(await result("tar"), {
        "archives/t.tar": members,
        "archives/t.tar.gz": members,
      });

      const compression = await result("compression");
      assert.deepEqual(
        Object.fromEntries(
          Object.entries(compression).filter(([k]) => k !== "unknown").map((
            [k, v],
          ) => [k, (v as { magic: string }).magic]),
        ),
        {
          "c/a.txt.gz": "1f8b08", // gzip
          "c/b.txt.bz2": "425a68", // "BZh"
          "c/c.txt.xz": "fd377a", // xz
          "c/d.txt": "1f8b08", // compression="gzip", whatever the name
          "c/e.txt": "6c696e", // "lin": no extension known, not compressed
        },
      );
      assert.equal(compression["c/e.txt"].size, 208890);
      assert.ok(compression["c/a.txt.gz"].size < 208890 / 3);
      assert.match(compression.unknown, /^Compression type zstd-nope not supported/);

      const seeking = await result("seeking");
      assert.deepEqual(seeking, {
        writer: [false, 0, 1000, 25_600_000], // seekable(), then tell() as it is written
        negative: "OSError",
        newline: "café\r\nsecond\r\n",
        text: "second\r\n",
        errors: "caf\ufffd\n",
        // The last 10 bytes of 25.6 MB: 10 bytes asked of kt-deno, not a block, not the file.
        fetched_for_end: [25_599_990, 10, 10],
      });

      assert.deepEqual(await result("atomic"), {
        // An exception inside `with` left no file, new or compressed, and kept.txt as it was.
        after_failures: ["kept.txt"],
        kept: "old\n",
        before_close: false,
        after_close: "not yet",
        x: "FileExistsError",
        xb: "FileExistsError",
        fresh: "made",
        append_tell: 4,
        appended: "old\nmore\n",
        "r+": "ValueError",
        "w+": "ValueError",
        rw: "ValueError",
        q: "ValueError",
        "atomic/missing.txt": "FileNotFoundError",
        atomic: "IsADirectoryError",
      });
      assert.deepEqual(await fs.listdir("atomic"), ["fresh.txt", "kept.txt", "late.txt"]);

      assert.deepEqual(await result("folders"), {
        makedirs_exists: "FileExistsError",
        walk: [
          ["tree", ["a"], ["top.txt"]],
          ["tree/a", ["b"], ["one.txt"]],
          ["tree/a/b", [], ["two.txt"]],
        ],
        walk_depth: ["tree"],
        walk_missing: [],
        walk_pruned: ["tree", "tree/a"],
        copy_dir: "IsADirectoryError",
        copy_missing: "FileNotFoundError",
        after: [
          ["tree", ["a", "a3"], ["moved.txt", "top.txt"]],
          ["tree/a", ["b"], ["one.txt"]],
          ["tree/a/b", [], ["two.txt"]],
          ["tree/a3", ["b"], ["one.txt"]],
          ["tree/a3/b", [], ["two.txt"]],
        ],
        read: ["t", "2"],
      });
      if (store === "local") await Deno.remove(dir, { recursive: true });
    },
  });
}

for (const store of ["s3", "gs", "az"]) {
  Deno.test({
    name: `${store}: a parquet footer read fetches the footer, not the file`,
    ...settings,
    fn: async () => {
      const { dir, fs, env } = await dataDir(store);
      const rows = 3_000_000;
      await run(dir, env, [{ function: "files.make_table", args: { path: "big.parquet", rows } }]);
      const size = (await fs.stat("big.parquet"))!.size;
      assert.ok(size > rows * 8, `the table is ${size} bytes`);

      // The same run again, through a proxy that counts what the store sends.
      const endpoint = /http:\/\/127\.0\.0\.1:(\d+)/;
      const port = Number(Object.values(env).map((v) => endpoint.exec(v)?.[1]).find(Boolean));
      const proxy = new TcpProxy({ hostname: "127.0.0.1", port });
      proxy.start();
      try {
        const proxied = Object.fromEntries(
          Object.entries(env).map((
            [k, v],
          ) => [k, v.replace(endpoint, `http://127.0.0.1:${proxy.port}`)]),
        );
        await run(dir, proxied, [{ function: "files.footer", args: { path: "big.parquet" } }]);
        const footer = JSON.parse(await fs.read("results/footer.json"));
        assert.equal(footer.rows, rows);
        assert.equal(footer.groups, 4);
        assert.ok(footer.fetched < 256 * 1024, `Python was sent ${footer.fetched} bytes`);
        // Everything the store sent for the whole run (its records included).
        assert.ok(proxy.served < size / 8, `the store sent ${proxy.served} of ${size} bytes`);
        console.log(`${store}: footer of a ${size}-byte parquet: ${proxy.served} bytes served`);
      } finally {
        proxy.stop();
      }
    },
  });
}

/** Makes a 1 GiB file cheaply: sparse on a local disk, a stream of zeros to an object store. */
async function makeGiB(store: string, dir: string, fs: DataFs): Promise<void> {
  if (store === "local") {
    await Deno.writeFile(`${dir}/big.bin`, new Uint8Array());
    await Deno.truncate(`${dir}/big.bin`, 1024 * MiB);
    return;
  }
  const zeros = new Uint8Array(8 * MiB);
  let sent = 0;
  await fs.writeStream(
    "big.bin",
    new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ === 128) controller.close();
        else controller.enqueue(zeros);
      },
    }),
  );
}

for (const store of ["local", "s3"]) {
  Deno.test({
    name: `${store}: a 1 GiB file is read by ranges while the worker stays small`,
    ...settings,
    fn: async () => {
      const { dir, fs, env } = await dataDir(store);
      try {
        await makeGiB(store, dir, fs);
        await run(dir, env, [{
          function: "files.read_big",
          args: { path: "big.bin", chunk: 16 * MiB },
        }]);
        const big = JSON.parse(await fs.read("results/big.json"));
        assert.equal(big.size, 1024 * MiB);
        assert.equal(big.read, 1024 * MiB);
        assert.equal(big.tail, 8);
        assert.ok(big.peak_rss < 256 * MiB, `the worker peaked at ${big.peak_rss} bytes`);
        const parent = big.kt_deno_peak_rss;
        assert.ok(parent === null || parent < 512 * MiB, `kt-deno peaked at ${parent} bytes`);
        console.log(
          `${store}: reading 1 GiB, peak RSS: Python worker ${(big.peak_rss / MiB).toFixed(0)} ` +
            `MiB, kt-deno ${(big.kt_deno_peak_rss / MiB).toFixed(0)} MiB`,
        );
      } finally {
        if (store === "local") await Deno.remove(dir, { recursive: true });
        else await fs.remove("big.bin");
      }
    },
  });
}

Deno.test({
  name: "(MinIO, fake-gcs-server and Azurite stop)",
  ...settings,
  fn: async () => {
    for (const server of [minio, gcs, azurite]) {
      await (await server?.catch(() => undefined))?.stop();
    }
  },
});
