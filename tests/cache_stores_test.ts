/**
 * The cache over every store: digests from a local folder (hashed, memoized) and from
 * MinIO, fake-gcs-server and Azurite (their metadata: one HEAD, no download), and
 * `kt-deno run --cache` over each object store.
 */
import assert from "node:assert/strict";
import { stringify } from "yaml";
import { DataFs } from "../src/storage/data_fs.ts";
import { ABSENT, Digester, DigestMemo, DIRECTORY } from "../src/storage/digest.ts";
import { openStorage } from "../src/storage/open.ts";
import type { CacheDecision } from "../src/records/cache.ts";
import { cacheDecisionsPath } from "../src/records/layout.ts";
import { type Minio, startMinio } from "./minio/harness.ts";
import { type FakeGcs, startFakeGcs } from "./gcs/harness.ts";
import { type Azurite, startAzurite } from "./azurite/harness.ts";
import { ktDeno, runIdOf } from "./cli_helpers.ts";

const settings = { sanitizeOps: false, sanitizeResources: false };
const unique = () => `t-${crypto.randomUUID().slice(0, 8)}`;

let minio: Promise<Minio> | undefined;
let fakeGcs: Promise<FakeGcs> | undefined;
let azurite: Promise<Azurite> | undefined;

interface Store {
  name: string;
  /** A fresh data dir's URL (or folder), and the environment that reaches its store. */
  open(): Promise<{ dataDir: string; env: Record<string, string> }>;
}

const stores: Store[] = [
  {
    name: "local",
    async open() {
      return { dataDir: await Deno.makeTempDir({ prefix: "kt-cache-store-" }), env: {} };
    },
  },
  {
    name: "s3",
    async open() {
      const server = await (minio ??= startMinio());
      return { dataDir: `s3://${server.bucket}/${unique()}`, env: server.env };
    },
  },
  {
    name: "gcs",
    async open() {
      const server = await (fakeGcs ??= startFakeGcs());
      return { dataDir: `gs://${server.bucket}/${unique()}`, env: server.env };
    },
  },
  {
    name: "azure",
    async open() {
      const server = await (azurite ??= startAzurite());
      return { dataDir: `az://${server.container}/${unique()}`, env: server.env };
    },
  },
];

const COUNT = `
export async function count(args: { input: string; output: string }, ctx: any) {
  const text = await ctx.fs.read(args.input);
  await ctx.fs.write(args.output, \`\${text.length}\\n\`);
}
`;

for (const store of stores) {
  Deno.test({
    name: `${store.name}: digests change with the bytes, not with a rewrite of the same bytes`,
    ...settings,
    fn: async () => {
      const { dataDir, env } = await store.open();
      for (const [key, value] of Object.entries(env)) Deno.env.set(key, value);
      const fs = new DataFs(openStorage(dataDir));
      const digester = new Digester(fs.driver, new DigestMemo());
      await fs.write("in/a.txt", "hello\n");
      const first = await digester.digest("in/a.txt");
      assert.notEqual(first, ABSENT);
      await fs.write("in/a.txt", "hello\n");
      assert.equal(await digester.digest("in/a.txt"), first, "same bytes, same digest");
      await fs.write("in/a.txt", "hello!\n");
      assert.notEqual(await digester.digest("in/a.txt"), first);
      assert.equal(await digester.digest("in/none.txt"), ABSENT);
      assert.equal(await digester.digest("in"), DIRECTORY);
      const listed = await digester.listing("in");
      await fs.write("in/b.txt", "b");
      assert.notEqual(await digester.listing("in"), listed);
      assert.equal(await digester.listing("nowhere"), ABSENT);
      if (store.name === "local") {
        assert.match(first, /^sha256:[0-9a-f]{64}$/);
        await Deno.remove(dataDir, { recursive: true });
      } else assert.match(first, /^(s3-etag|s3-sha256|gcs-md5|gcs-crc32c|azure-md5):/);
    },
  });

  Deno.test({
    name:
      `${store.name}: run --cache skips what is unchanged and reruns the task whose input changed`,
    ...settings,
    fn: async () => {
      const { dataDir, env } = await store.open();
      for (const [key, value] of Object.entries(env)) Deno.env.set(key, value);
      const fs = new DataFs(openStorage(dataDir));
      await fs.write("in/a.txt", "a\n");
      await fs.write("in/b.txt", "bb\n");
      const dir = await Deno.makeTempDir({ prefix: "kt-cache-store-project-" });
      try {
        await Deno.mkdir(`${dir}/fns`);
        await Deno.writeTextFile(`${dir}/fns/steps.ts`, COUNT);
        await Deno.writeTextFile(
          `${dir}/pipeline.yaml`,
          stringify({
            name: "stores",
            jobs: [{
              name: "count",
              type: "static",
              tasks: ["a", "b"].map((f) => ({
                function: "steps.count",
                args: { input: `in/${f}.txt`, output: `out/${f}.txt` },
              })),
            }],
          }),
        );
        const run = async () => {
          const args = ["run", "pipeline.yaml", "--functions", "fns", "--data-dir", dataDir];
          const result = await ktDeno([...args, "--cache"], dir, env);
          assert.equal(result.code, 0, result.stdout + result.stderr);
          const runId = runIdOf(result.stdout);
          const list = await fs.readJson<CacheDecision[]>(cacheDecisionsPath(runId, "count"));
          return list.map((d) => d.outcome);
        };
        assert.deepEqual(await run(), ["ran", "ran"]);
        assert.deepEqual(await run(), ["cached", "cached"]);
        await fs.write("in/b.txt", "bbb\n");
        assert.deepEqual(await run(), ["cached", "ran"]);
        assert.equal(await fs.read("out/b.txt"), "4\n");
        await fs.remove("out/a.txt");
        assert.deepEqual(await run(), ["ran", "cached"]);
      } finally {
        await Deno.remove(dir, { recursive: true });
        if (store.name === "local") await Deno.remove(dataDir, { recursive: true });
      }
    },
  });
}
