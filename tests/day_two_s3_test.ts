/**
 * Task logs on an S3 data dir (a real MinIO server): the log sink's rewrites, its cap and
 * a second attempt that keeps the first's lines; and `kt-deno logs` of a local run there.
 */
import assert from "node:assert/strict";
import { DataFs } from "../src/storage/data_fs.ts";
import { LocalDriver } from "../src/storage/local.ts";
import { S3Driver } from "../src/storage/s3.ts";
import { LogSink } from "../src/records/log_sink.ts";
import { FIXTURE_FUNCTIONS, ktDeno, runIdOf, specFile } from "./cli_helpers.ts";
import { type Minio, startMinio } from "./minio/harness.ts";

const settings = { sanitizeOps: false, sanitizeResources: false };
let minio: Promise<Minio> | undefined;
const server = () => minio ??= startMinio();

async function bucketFs(prefix: string): Promise<DataFs> {
  const s = await server();
  for (const [key, value] of Object.entries(s.env)) Deno.env.set(key, value);
  return new DataFs(new S3Driver(`s3://${s.bucket}/${prefix}`));
}

Deno.test({
  name: "log sink on S3: whole-object rewrites, a second attempt keeps the first's lines, a cap",
  ...settings,
  fn: async () => {
    const fs = await bucketFs("sink");
    const first = new LogSink(fs);
    first.line("logs/a/0.log", "one");
    first.line("logs/a/0.log", "two");
    await first.flush();
    assert.equal(await fs.read("logs/a/0.log"), "one\ntwo\n");
    first.line("logs/a/0.log", "three");
    await first.close();
    assert.equal(await fs.read("logs/a/0.log"), "one\ntwo\nthree\n");

    const retry = new LogSink(fs);
    retry.line("logs/a/0.log", "again");
    await retry.close();
    assert.equal(await fs.read("logs/a/0.log"), "one\ntwo\nthree\nagain\n");

    const capped = new LogSink(fs, { capBytes: 10 });
    for (const line of ["12345", "67890", "abc", "def"]) capped.line("logs/b/0.log", line);
    await capped.close();
    assert.equal(
      await fs.read("logs/b/0.log"),
      "12345\n[kt-deno: log cut at 10 bytes; 3 more lines not kept]\n",
    );
  },
});

Deno.test("log sink on a local data dir appends", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const fs = new DataFs(new LocalDriver(dir));
    for (const text of ["first", "second"]) {
      const sink = new LogSink(fs);
      sink.line("logs/a/0.log", text);
      await sink.close();
    }
    assert.equal(await Deno.readTextFile(`${dir}/logs/a/0.log`), "first\nsecond\n");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "kt-deno logs and status of a local run on an s3:// data dir",
  ...settings,
  fn: async () => {
    const s = await server();
    const dataDir = `s3://${s.bucket}/logs-run`;
    const { dir, path } = await specFile({
      name: "talk",
      jobs: [{
        name: "bad",
        type: "static",
        tasks: [{ function: "day_two.chatty", args: { lines: ["about to fail"], fail: "nope" } }],
      }],
    });
    try {
      const run = await ktDeno(
        ["run", path, "--data-dir", dataDir, "--functions", FIXTURE_FUNCTIONS],
        dir,
        s.env,
      );
      assert.equal(run.code, 1, run.stderr);
      const runId = runIdOf(run.stdout);
      const logs = await ktDeno(["logs", runId, "bad/0", "--data-dir", dataDir], dir, s.env);
      assert.equal(logs.code, 0, logs.stderr);
      assert.deepEqual(logs.stdout.trimEnd().split("\n").sort(), [
        "bad[0] about to fail",
        "bad[0] kt-deno task: nope",
        "bad[0] to stderr",
      ]);
      const status = await ktDeno(["status", runId, "--data-dir", dataDir], dir, s.env);
      assert.match(status.stdout, /last lines of bad\[0\]:/);
      const list = await ktDeno(["list", "--data-dir", dataDir, "-o", "json"], dir, s.env);
      assert.equal(JSON.parse(list.stdout)[0].run_id, runId);
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
