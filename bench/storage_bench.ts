/**
 * Storage benchmark: small writes and reads per second on each backend, through what tasks
 * use (`openStorage`, so the retrying driver, and the `fs` helper): a local folder, MinIO
 * (S3), fake-gcs-server (GCS) and Azurite (Azure Blob), each started on loopback by the
 * tests' harnesses. Each case writes `--files` objects of `--size` bytes, then reads them
 * back, one at a time and then `--concurrency` at a time.
 *
 *     deno run -A bench/storage_bench.ts [--files 500] [--size 1024] [--concurrency 16] [--only local,s3,gcs,azure]
 *
 * The emulators are not the clouds: the figures compare kt-deno's drivers on one machine,
 * and say nothing of a cloud's latency.
 *
 * @module
 */
import { DataFs } from "../src/storage/data_fs.ts";
import { openStorage } from "../src/storage/open.ts";
import { startAzurite } from "../tests/azurite/harness.ts";
import { startFakeGcs } from "../tests/gcs/harness.ts";
import { startMinio } from "../tests/minio/harness.ts";

const args = Object.fromEntries(
  Deno.args.join("=").split(/=?--/).filter(Boolean).map((a) => a.split("=")),
);
const FILES = Number(args.files ?? 500);
const SIZE = Number(args.size ?? 1024);
const CONCURRENCY = Number(args.concurrency ?? 16);
const ONLY = new Set((args.only ?? "local,s3,gcs,azure").split(","));

interface Server {
  dataDir: string;
  env: Record<string, string>;
  stop(): Promise<void>;
}

const backends: Record<string, () => Promise<Server>> = {
  local: async () => {
    const dir = await Deno.makeTempDir({ prefix: "kt-storage-bench-" });
    return { dataDir: dir, env: {}, stop: () => Deno.remove(dir, { recursive: true }) };
  },
  s3: async () => {
    const s = await startMinio();
    return { dataDir: `s3://${s.bucket}/bench`, env: s.env, stop: s.stop };
  },
  gcs: async () => {
    const s = await startFakeGcs();
    return { dataDir: `gs://${s.bucket}/bench`, env: s.env, stop: s.stop };
  },
  azure: async () => {
    const s = await startAzurite();
    return { dataDir: `az://${s.container}/bench`, env: s.env, stop: s.stop };
  },
};

async function inParallel(count: number, limit: number, work: (i: number) => Promise<void>) {
  let next = 0;
  await Promise.all(Array.from({ length: limit }, async () => {
    for (let i = next++; i < count; i = next++) await work(i);
  }));
}

async function rate(count: number, limit: number, work: (i: number) => Promise<void>) {
  const start = performance.now();
  await inParallel(count, limit, work);
  return count / ((performance.now() - start) / 1000);
}

const data = new Uint8Array(SIZE).map((_, i) => i % 251);
console.log(
  `${FILES} objects of ${SIZE} B; operations per second, 1 at a time / ${CONCURRENCY} at a time`,
);
console.log("backend  writes/s (1)  reads/s (1)  writes/s (16)  reads/s (16)");
for (const [name, start] of Object.entries(backends)) {
  if (!ONLY.has(name)) continue;
  const server = await start();
  try {
    for (const [key, value] of Object.entries(server.env)) Deno.env.set(key, value);
    const fs = new DataFs(openStorage(server.dataDir));
    const figures: number[] = [];
    for (const limit of [1, CONCURRENCY]) {
      const folder = `c${limit}`;
      figures.push(await rate(FILES, limit, (i) => fs.writeBytes(`${folder}/f${i}`, data)));
      figures.push(
        await rate(FILES, limit, async (i) => {
          const back = await fs.readBytes(`${folder}/f${i}`);
          if (back.length !== SIZE) throw new Error(`read ${back.length} bytes, wrote ${SIZE}`);
        }),
      );
    }
    console.log(
      [name.padEnd(7), ...figures.map((f, i) => f.toFixed(0).padStart(i < 2 ? 12 : 13))].join(" "),
    );
  } finally {
    await server.stop();
  }
}
