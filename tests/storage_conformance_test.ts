/**
 * One storage conformance suite, run unchanged against the local driver, the S3 driver (on
 * a real MinIO server), the GCS driver (on fake-gcs-server) and the Azure Blob driver (on
 * Azurite), through the `fs` helper tasks get and the retrying wrapper every data dir is
 * opened with; then what that wrapper retries and what not, each store's early check, and
 * a run that rides out its emulator being away for 30 s.
 */
import assert from "node:assert/strict";
import { DataFs } from "../src/storage/data_fs.ts";
import { NotFoundError, PathEscapeError } from "../src/storage/driver.ts";
import { LocalDriver } from "../src/storage/local.ts";
import { openStorage } from "../src/storage/open.ts";
import { RetryingDriver, StorageUnavailableError } from "../src/storage/retrying.ts";
import { S3Driver } from "../src/storage/s3.ts";
import { type Minio, startMinio } from "./minio/harness.ts";
import { type FakeGcs, startFakeGcs } from "./gcs/harness.ts";
import { type Azurite, startAzurite } from "./azurite/harness.ts";
import { AZURITE_ACCOUNT, AZURITE_KEY } from "./azurite/harness.ts";
import { FIXTURE_FUNCTIONS, runIdOf, spawnKtDeno, specFile } from "./cli_helpers.ts";
import { freePort } from "./ports.ts";
import { until } from "./until.ts";
import { openGcs } from "../src/storage/gcs.ts";
import { openAzure } from "../src/storage/azure.ts";
import type { StateDocument } from "../src/engine/state.ts";
import { statePath } from "../src/records/layout.ts";

const OUTAGE_SECONDS = 30;

const settings = { sanitizeOps: false, sanitizeResources: false };
let minio: Promise<Minio> | undefined;
const startS3 = async () => {
  const server = await (minio ??= startMinio());
  for (const [key, value] of Object.entries(server.env)) Deno.env.set(key, value);
  return server;
};

let fakeGcs: Promise<FakeGcs> | undefined;
const startGcs = async () => {
  const server = await (fakeGcs ??= startFakeGcs());
  for (const [key, value] of Object.entries(server.env)) Deno.env.set(key, value);
  return server;
};
let azurite: Promise<Azurite> | undefined;
const startAzure = async () => {
  const server = await (azurite ??= startAzurite());
  for (const [key, value] of Object.entries(server.env)) Deno.env.set(key, value);
  return server;
};
const unique = () => `t-${crypto.randomUUID().slice(0, 8)}`;

interface Backend {
  name: string;
  open(): Promise<{ fs: DataFs; cleanup(): Promise<void> }>;
}

const backends: Backend[] = [
  {
    name: "local",
    async open() {
      const dir = await Deno.makeTempDir({ prefix: "kt-storage-" });
      return {
        fs: new DataFs(openStorage(dir)),
        cleanup: () => Deno.remove(dir, { recursive: true }),
      };
    },
  },
  {
    name: "s3",
    async open() {
      const server = await startS3();
      const fs = new DataFs(openStorage(`s3://${server.bucket}/${unique()}`));
      return { fs, cleanup: async () => {} };
    },
  },
  {
    name: "gcs",
    async open() {
      const server = await startGcs();
      const fs = new DataFs(openStorage(`gs://${server.bucket}/${unique()}`));
      return { fs, cleanup: async () => {} };
    },
  },
  {
    name: "azure",
    async open() {
      const server = await startAzure();
      const fs = new DataFs(openStorage(`az://${server.container}/${unique()}`));
      return { fs, cleanup: async () => {} };
    },
  },
];

for (const backend of backends) {
  const test = (name: string, fn: (fs: DataFs) => Promise<void>) =>
    Deno.test({
      name: `${backend.name}: ${name}`,
      ...settings,
      fn: async () => {
        const { fs, cleanup } = await backend.open();
        try {
          await fn(fs);
        } finally {
          await cleanup();
        }
      },
    });

  test("write, read, exists, isfile, isdir, stat", async (fs) => {
    await fs.write("a/b/c.txt", "hello\n");
    assert.equal(await fs.read("a/b/c.txt"), "hello\n");
    assert.equal(await fs.exists("a/b/c.txt"), true);
    assert.equal(await fs.isfile("a/b/c.txt"), true);
    assert.equal(await fs.isdir("a/b/c.txt"), false);
    assert.equal(await fs.isdir("a/b"), true);
    assert.equal(await fs.isdir("a"), true);
    assert.equal(await fs.isfile("a"), false);
    const info = (await fs.stat("a/b/c.txt"))!;
    assert.equal(info.type, "file");
    assert.equal(info.size, 6);
    assert.equal((await fs.stat("a"))!.type, "directory");
    await fs.write("a/b/c.txt", "replaced");
    assert.equal(await fs.read("a/b/c.txt"), "replaced");
  });

  test("the driver refuses to remove the data dir's root, and it stays", async (fs) => {
    await fs.write("kept.txt", "still here");
    await assert.rejects(() => fs.driver.rmdir(""), PathEscapeError);
    assert.equal(await fs.read("kept.txt"), "still here");
  });

  test("listdir names files and folders; mkdir makes empty folders", async (fs) => {
    await fs.write("dir/one.txt", "1");
    await fs.write("dir/two.txt", "2");
    await fs.write("dir/sub/three.txt", "3");
    await fs.mkdir("dir/empty");
    assert.deepEqual(await fs.listdir("dir"), ["empty", "one.txt", "sub", "two.txt"]);
    assert.deepEqual(await fs.listdir("dir/empty"), []);
    assert.equal(await fs.isdir("dir/empty"), true);
    assert.equal(await fs.exists("dir/empty"), true);
    assert.deepEqual(await fs.listdir(""), ["dir"]);
  });

  test("missing files and folders", async (fs) => {
    await assert.rejects(() => fs.read("nope.txt"), NotFoundError);
    await assert.rejects(() => fs.readBytes("no/such/file"), NotFoundError);
    await assert.rejects(() => fs.readStream("nope.txt"), NotFoundError);
    await assert.rejects(() => fs.listdir("no-folder"), NotFoundError);
    await assert.rejects(() => fs.remove("nope.txt"), NotFoundError);
    await assert.rejects(() => fs.rmdir("no-folder"), NotFoundError);
    assert.equal(await fs.stat("nope.txt"), null);
    assert.equal(await fs.exists("nope.txt"), false);
    assert.equal(await fs.isfile("nope.txt"), false);
    assert.equal(await fs.isdir("nope"), false);
    assert.deepEqual(await fs.glob("nope/*.txt"), []);
  });

  test("remove takes a file; rmdir takes a folder and all it holds", async (fs) => {
    await fs.write("tree/x.txt", "x");
    await fs.write("tree/deep/y.txt", "y");
    await fs.mkdir("tree/deep/empty");
    await assert.rejects(() => fs.remove("tree"), /not a file/);
    await fs.remove("tree/x.txt");
    assert.equal(await fs.exists("tree/x.txt"), false);
    assert.deepEqual(await fs.listdir("tree"), ["deep"]);
    await fs.rmdir("tree");
    assert.equal(await fs.exists("tree"), false);
    assert.equal(await fs.exists("tree/deep/y.txt"), false);
  });

  test("append creates, then appends", async (fs) => {
    await fs.append("log.txt", "one\n");
    await fs.append("log.txt", "two\n");
    assert.equal(await fs.read("log.txt"), "one\ntwo\n");
  });

  test("glob: *, ?, ** and sets", async (fs) => {
    for (const path of ["g/a.txt", "g/b.txt", "g/c.csv", "g/sub/d.txt", "g/sub/deeper/e.txt"]) {
      await fs.write(path, path);
    }
    assert.deepEqual(await fs.glob("g/*.txt"), ["g/a.txt", "g/b.txt"]);
    assert.deepEqual(await fs.glob("g/?.csv"), ["g/c.csv"]);
    assert.deepEqual(await fs.glob("g/[ab].txt"), ["g/a.txt", "g/b.txt"]);
    assert.deepEqual(await fs.glob("g/**/*.txt"), [
      "g/a.txt",
      "g/b.txt",
      "g/sub/d.txt",
      "g/sub/deeper/e.txt",
    ]);
    assert.deepEqual(await fs.glob("g/*"), ["g/a.txt", "g/b.txt", "g/c.csv", "g/sub"]);
  });

  test("bytes round-trip exactly; JSON helpers", async (fs) => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    await fs.writeBytes("bin/all.bin", all);
    assert.deepEqual(await fs.readBytes("bin/all.bin"), all);
    await fs.writeJson("j.json", { a: [1, 2] });
    assert.deepEqual(await fs.readJson("j.json"), { a: [1, 2] });
  });

  test("streams: a 20 MiB write and read", async (fs) => {
    const chunk = new Uint8Array(1 << 20).map((_, i) => i % 251);
    let sent = 0;
    const source = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent === 20) return controller.close();
        sent++;
        controller.enqueue(chunk.slice());
      },
    });
    await fs.writeStream("big/blob.bin", source);
    assert.equal((await fs.stat("big/blob.bin"))!.size, 20 << 20);
    let total = 0;
    let ok = true;
    for await (const part of await fs.readStream("big/blob.bin")) {
      for (let i = 0; i < part.length; i += 4093) ok &&= part[i] === (total + i) % (1 << 20) % 251;
      total += part.length;
    }
    assert.equal(total, 20 << 20);
    assert.ok(ok, "the bytes read back are the bytes written");
  });

  test("readRange: bytes at an offset, fewer at the end, none past it", async (fs) => {
    const data = new Uint8Array(300_000).map((_, i) => i % 253);
    await fs.writeBytes("r/data.bin", data);
    assert.deepEqual(await fs.readRange("r/data.bin", 0, 5), data.slice(0, 5));
    assert.deepEqual(
      await fs.readRange("r/data.bin", 123_456, 70_000),
      data.slice(123_456, 193_456),
    );
    assert.deepEqual(await fs.readRange("r/data.bin", 299_990, 100), data.slice(299_990));
    assert.equal((await fs.readRange("r/data.bin", 300_000, 10)).length, 0);
    assert.equal((await fs.readRange("r/data.bin", 400_000, 10)).length, 0);
    assert.equal((await fs.readRange("r/data.bin", 10, 0)).length, 0);
    await assert.rejects(() => fs.readRange("r/none.bin", 0, 10), NotFoundError);
    await assert.rejects(() => fs.readRange("r/data.bin", -1, 10), TypeError);
    await assert.rejects(() => fs.readRange("../x", 0, 10), PathEscapeError);
  });

  test("unicode and spaces in names", async (fs) => {
    await fs.write("données/été 2026/rapport final.txt", "ok");
    assert.deepEqual(await fs.listdir("données"), ["été 2026"]);
    assert.deepEqual(await fs.listdir("données/été 2026"), ["rapport final.txt"]);
    assert.equal(await fs.read("données/été 2026/rapport final.txt"), "ok");
    assert.deepEqual(await fs.glob("données/**/*.txt"), ["données/été 2026/rapport final.txt"]);
  });

  test("a path that leaves the data dir is an error", async (fs) => {
    for (const path of ["../x", "/etc/passwd", "a/../../x", "a/\0b"]) {
      await assert.rejects(() => fs.read(path), PathEscapeError, path);
      await assert.rejects(() => fs.write(path, "x"), PathEscapeError, path);
      await assert.rejects(() => fs.listdir(path), PathEscapeError, path);
      await assert.rejects(() => fs.glob(`${path}/*`), PathEscapeError, path);
    }
    assert.equal(fs.join("a", "b/", "c.txt"), "a/b/c.txt");
    await fs.write("a/../inside.txt", "x");
    assert.equal(await fs.read("inside.txt"), "x");
  });
}

Deno.test({
  name: "s3: listing pages past 1,000 objects",
  ...settings,
  fn: async () => {
    const server = await startS3();
    const fs = new DataFs(new S3Driver(`s3://${server.bucket}/many`));
    const names = Array.from({ length: 1100 }, (_, i) => `f${String(i).padStart(4, "0")}`);
    let next = 0;
    await Promise.all(Array.from({ length: 16 }, async () => {
      for (let i = next++; i < names.length; i = next++) await fs.write(`m/${names[i]}`, "x");
    }));
    assert.deepEqual(await fs.listdir("m"), names);
    assert.equal((await fs.glob("m/*")).length, 1100);
    await fs.rmdir("m");
    assert.equal(await fs.exists("m"), false);
  },
});

Deno.test({
  name:
    "s3: a missing bucket, bad credentials and an unreachable endpoint fail the check, saying which",
  ...settings,
  fn: async () => {
    const server = await startS3();
    await assert.rejects(
      () => new S3Driver("s3://no-such-bucket/x").check(),
      /S3 NoSuchBucket for s3:\/\/no-such-bucket\/x: the bucket no-such-bucket does not exist/,
    );
    Deno.env.set("AWS_SECRET_ACCESS_KEY", "wrong");
    try {
      await assert.rejects(
        () => new S3Driver(`s3://${server.bucket}/x`).check(),
        /S3 SignatureDoesNotMatch for s3:\/\/kt-test\/x: the credentials were refused/,
      );
    } finally {
      Deno.env.set("AWS_SECRET_ACCESS_KEY", server.secretKey);
    }
    const port = freePort();
    await assert.rejects(
      () =>
        new S3Driver(`s3://${server.bucket}/x`, { endpoint: `http://127.0.0.1:${port}` }).check(),
      /for s3:\/\/kt-test\/x: the endpoint cannot be reached/,
    );
    await new S3Driver(`s3://${server.bucket}/x`).check();
  },
});

Deno.test({
  name: "s3: an unreachable store is retried for the bound, then fails saying so",
  ...settings,
  fn: async () => {
    const server = await startS3();
    const lines: string[] = [];
    const closed = `http://127.0.0.1:${freePort()}`;
    const store = new RetryingDriver(
      new S3Driver(`s3://${server.bucket}/x`, { endpoint: closed }),
      { seconds: 1, log: (line) => lines.push(line) },
    );
    const error = await store.read("a.txt").catch((e) => e);
    assert.ok(error instanceof StorageUnavailableError, String(error));
    assert.match(error.message, /^data dir s3:\/\/kt-test\/x unreachable for 1 s, gave up: S3 /);
    assert.equal(lines.length, 1);
    assert.match(lines[0], /data dir s3:\/\/kt-test\/x unreachable, retrying for up to 1 s/);
  },
});

Deno.test({
  name: "s3: a permanent error (missing bucket, missing key) is not retried",
  ...settings,
  fn: async () => {
    const server = await startS3();
    const lines: string[] = [];
    const log = (line: string) => lines.push(line);
    const missing = new RetryingDriver(new S3Driver("s3://no-such-bucket/x"), { seconds: 60, log });
    await assert.rejects(() => missing.read("a.txt"), /S3 NoSuchBucket/);
    const store = new RetryingDriver(new S3Driver(`s3://${server.bucket}/x`), { seconds: 60, log });
    await assert.rejects(() => store.read("no/such.txt"), NotFoundError);
    assert.deepEqual(lines, []);
  },
});

Deno.test({
  name: "retrying driver: transient errors are retried until they stop, and the outage is logged",
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "kt-storage-" });
    try {
      let failures = 2;
      const flaky = new class extends LocalDriver {
        override read(path: string) {
          if (failures-- > 0) {
            return Promise.reject(Object.assign(new Error("503 SlowDown"), { transient: true }));
          }
          return super.read(path);
        }
      }(dir);
      const lines: string[] = [];
      const store = new RetryingDriver(flaky, { seconds: 30, log: (line) => lines.push(line) });
      await store.write("a.txt", new TextEncoder().encode("hi"));
      assert.equal(new TextDecoder().decode(await store.read("a.txt")), "hi");
      assert.equal(lines.length, 2);
      assert.match(lines[0], /unreachable, retrying for up to 30 s: 503 SlowDown/);
      assert.match(lines[1], /reachable again after [\d.]+ s/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

for (
  const [name, start, url] of [
    ["gcs", startGcs, (s: FakeGcs | Azurite) => `gs://${(s as FakeGcs).bucket}`],
    ["azure", startAzure, (s: FakeGcs | Azurite) => `az://${(s as Azurite).container}`],
  ] as const
) {
  Deno.test({
    name: `${name}: listing pages past 1,000 objects`,
    ...settings,
    fn: async () => {
      const fs = new DataFs(openStorage(`${url(await start())}/many`));
      const names = Array.from({ length: 1100 }, (_, i) => `f${String(i).padStart(4, "0")}`);
      let next = 0;
      await Promise.all(Array.from({ length: 16 }, async () => {
        for (let i = next++; i < names.length; i = next++) await fs.write(`m/${names[i]}`, "x");
      }));
      assert.deepEqual(await fs.listdir("m"), names);
      assert.equal((await fs.glob("m/*")).length, 1100);
      await fs.rmdir("m");
      assert.equal(await fs.exists("m"), false);
    },
  });

  Deno.test({
    name: `${name}: an unreachable store is retried for the bound, then fails saying so`,
    ...settings,
    fn: async () => {
      const server = await start();
      const closed = `http://127.0.0.1:${freePort()}`;
      const lines: string[] = [];
      const saved = { ...server.env };
      if (name === "gcs") Deno.env.set("STORAGE_EMULATOR_HOST", closed);
      else {
        Deno.env.set(
          "AZURE_STORAGE_CONNECTION_STRING",
          (server as Azurite).connectionString.replace((server as Azurite).endpoint, closed),
        );
      }
      try {
        const inner = name === "gcs" ? openGcs(`${url(server)}/x`) : openAzure(`${url(server)}/x`);
        const store = new RetryingDriver(inner, { seconds: 1, log: (line) => lines.push(line) });
        const error = await store.read("a.txt").catch((e) => e);
        assert.ok(error instanceof StorageUnavailableError, String(error));
        assert.match(error.message, /unreachable for 1 s, gave up: (GCS|Azure) /);
        assert.equal(lines.length, 1);
        assert.match(lines[0], /unreachable, retrying for up to 1 s/);
      } finally {
        for (const [key, value] of Object.entries(saved)) Deno.env.set(key, value);
      }
    },
  });

  Deno.test({
    name: `${name}: a run rides out the emulator away for ${OUTAGE_SECONDS} s`,
    ...settings,
    fn: async () => {
      const server = await start();
      await outageRun(`${url(server)}/${unique()}`, server);
    },
  });
}

Deno.test({
  name: "gcs: a missing bucket, missing credentials and an unreachable endpoint fail the check",
  ...settings,
  fn: async () => {
    const server = await startGcs();
    await assert.rejects(
      () => openGcs("gs://no-such-bucket/x").check(),
      /GCS 404 for gs:\/\/no-such-bucket\/x: the bucket no-such-bucket does not exist/,
    );
    Deno.env.set("STORAGE_EMULATOR_HOST", `http://127.0.0.1:${freePort()}`);
    try {
      await assert.rejects(
        () => openGcs(`gs://${server.bucket}/x`).check(),
        /for gs:\/\/kt-test\/x: the endpoint cannot be reached/,
      );
      Deno.env.delete("STORAGE_EMULATOR_HOST");
      Deno.env.set("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/key.json");
      await assert.rejects(
        () => openGcs(`gs://${server.bucket}/x`).check(),
        /for gs:\/\/kt-test\/x: no usable credentials: .*GOOGLE_APPLICATION_CREDENTIALS/,
      );
    } finally {
      Deno.env.delete("GOOGLE_APPLICATION_CREDENTIALS");
      Deno.env.set("STORAGE_EMULATOR_HOST", server.endpoint);
    }
    await openGcs(`gs://${server.bucket}/x`).check();
  },
});

Deno.test({
  name:
    "azure: a missing container, missing or refused credentials and an unreachable endpoint fail the check",
  ...settings,
  fn: async () => {
    const server = await startAzure();
    await assert.rejects(
      () => openAzure("az://no-such-container/x").check(),
      /Azure ContainerNotFound for az:\/\/no-such-container\/x: the container no-such-container does not exist/,
    );
    Deno.env.delete("AZURE_STORAGE_CONNECTION_STRING");
    try {
      await assert.rejects(
        () => openAzure(`az://${server.container}/x`).check(),
        /no Azure credentials for az:\/\/kt-test\/x: set AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT/,
      );
      Deno.env.set("AZURE_STORAGE_ACCOUNT", AZURITE_ACCOUNT);
      Deno.env.set("AZURE_STORAGE_BLOB_ENDPOINT", `${server.endpoint}/${AZURITE_ACCOUNT}`);
      Deno.env.set("AZURE_STORAGE_KEY", btoa("wrong key"));
      await assert.rejects(
        () => openAzure(`az://${server.container}/x`).check(),
        /for az:\/\/kt-test\/x: the credentials were refused/,
      );
      Deno.env.set("AZURE_STORAGE_KEY", AZURITE_KEY);
      await openAzure(`az://${server.container}/x`).check();
      Deno.env.set("AZURE_STORAGE_BLOB_ENDPOINT", `http://127.0.0.1:${freePort()}/x`);
      await assert.rejects(
        () => openAzure(`az://${server.container}/x`).check(),
        /for az:\/\/kt-test\/x: the endpoint cannot be reached/,
      );
    } finally {
      for (
        const key of ["AZURE_STORAGE_ACCOUNT", "AZURE_STORAGE_BLOB_ENDPOINT", "AZURE_STORAGE_KEY"]
      ) {
        Deno.env.delete(key);
      }
      Deno.env.set("AZURE_STORAGE_CONNECTION_STRING", server.connectionString);
    }
  },
});

Deno.test({
  name: "azure: abfs://container@account.dfs.core.windows.net/prefix is the same data dir",
  ...settings,
  fn: async () => {
    const server = await startAzure();
    const prefix = unique();
    await new DataFs(openStorage(`az://${server.container}/${prefix}`)).write("a.txt", "az");
    const abfs = new DataFs(
      openStorage(`abfs://${server.container}@${AZURITE_ACCOUNT}.dfs.core.windows.net/${prefix}`),
    );
    assert.equal(await abfs.read("a.txt"), "az");
    await assert.rejects(
      () => openAzure(`abfs://${server.container}@other.dfs.core.windows.net/x`).check(),
      /names account other but AZURE_STORAGE_CONNECTION_STRING is for devstoreaccount1/,
    );
  },
});

/** A spec whose middle job waits for a local gate file (as in faults/minio_outage_test.ts). */
function gatedSpec(gate: string) {
  const ok = (name: string) => [{ function: "steps.ok", args: { name } }];
  return {
    name: "outage",
    jobs: [
      { name: "first", type: "static", tasks: ok("first") },
      {
        name: "gated",
        type: "static",
        dependencies: ["first"],
        tasks: [{ command: ["sh", "-c", `until [ -e '${gate}' ]; do sleep 0.05; done`] }],
      },
      { name: "last", type: "static", dependencies: ["gated"], tasks: ok("last") },
    ],
  };
}

/**
 * Runs the gated spec on `dataDir`; once `first` is Completed takes the emulator away and
 * opens the gate (so the launcher's next state write and `last` meet the outage), gives the
 * emulator back after OUTAGE_SECONDS, and checks that the run completed.
 */
async function outageRun(dataDir: string, server: FakeGcs | Azurite) {
  const { dir, path } = await specFile(gatedSpec(""));
  const gate = `${dir}/gate`;
  await Deno.writeTextFile(path, JSON.stringify(gatedSpec(gate)));
  const child = spawnKtDeno(
    ["run", path, "--data-dir", dataDir, "--functions", FIXTURE_FUNCTIONS],
    dir,
    server.env,
  );
  let stderr = "";
  let stdout = "";
  const done = Promise.all([
    (async () => {
      for await (const text of child.stderr.pipeThrough(new TextDecoderStream())) stderr += text;
    })(),
    (async () => {
      for await (const text of child.stdout.pipeThrough(new TextDecoderStream())) stdout += text;
    })(),
  ]);
  let away = false;
  try {
    await until("first to complete", 120, () => / first Completed/.test(stderr), () => stderr);
    await server.halt();
    away = true;
    const stoppedAt = Date.now();
    await Deno.writeTextFile(gate, "");
    await until("a retry line", 60, () => /unreachable, retrying for up to/.test(stderr));
    await until(`${OUTAGE_SECONDS} s of outage`, OUTAGE_SECONDS + 10, () => {
      return Date.now() >= stoppedAt + OUTAGE_SECONDS * 1000;
    });
    await server.restart();
    away = false;
    const restartedAt = Date.now();
    let ended = false;
    child.status.finally(() => ended = true);
    await until("the run to end once the store is back", 120, () => ended, () => stderr);
    const status = await child.status;
    await done;
    console.log(
      `outage ${((restartedAt - stoppedAt) / 1000).toFixed(1)} s; run ended ${
        ((Date.now() - restartedAt) / 1000).toFixed(1)
      } s after the store was back`,
    );
    assert.equal(status.code, 0, stderr);
    assert.match(stderr, /reachable again after/);
    const fs = new DataFs(openStorage(dataDir));
    const state = await fs.readJson<StateDocument>(
      statePath(runIdOf(stdout)),
    );
    assert.equal(state.status, "Completed");
    assert.ok(await fs.exists("done/last"));
  } finally {
    if (away) await server.restart();
    try {
      child.kill("SIGKILL");
    } catch { /* ended */ }
    await done.catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test({
  name: "(MinIO stops)",
  ...settings,
  fn: async () => {
    const server = await minio?.catch(() => undefined);
    await server?.stop();
    if (server) assert.throws(() => Deno.kill(server.pid, "SIGCONT"));
  },
});

Deno.test({
  name: "(fake-gcs-server and Azurite stop)",
  ...settings,
  fn: async () => {
    for (
      const server of [
        await fakeGcs?.catch(() => undefined),
        await azurite?.catch(() => undefined),
      ]
    ) {
      await server?.stop();
      if (server) assert.throws(() => Deno.kill(server.pid, "SIGCONT"));
    }
  },
});
