/**
 * The data dir is sacred: flags that cannot mean `/`, paths that cannot leave the data
 * dir (symlinks included), `kt-metadata/` read-only to tasks, the root never removed.
 */
import assert from "node:assert/strict";
import { DataFs } from "../src/storage/data_fs.ts";
import { openStorage } from "../src/storage/open.ts";
import { exists, FIXTURE_FUNCTIONS, ktDeno, runIdOf, specFile } from "./cli_helpers.ts";

Deno.test("an empty or blank --data-dir, --functions or -o is exit 2, nothing written", async () => {
  const { dir, path } = await specFile({
    name: "p",
    jobs: [{ name: "a", type: "static", tasks: [{ command: ["true"] }] }],
  });
  try {
    const cases: [string[], RegExp][] = [
      [["run", path, "--data-dir", ""], /--data-dir is empty/],
      [["run", path, "--data-dir", "  "], /--data-dir is blank/],
      [["run", path, "--data-dir="], /--data-dir is empty/],
      [["run", path, "--data-dir", "/"], /root cannot be a data dir/],
      [["run", path, "--data-dir", "file:///"], /root cannot be a data dir/],
      [["run", path, "--functions", ""], /--functions is empty/],
      [["report", "ktpr00000000", "-o", ""], /--output is empty/],
      [["report", "ktpr00000000", "--data-dir", "\t"], /--data-dir is blank/],
      [["status", "ktpr00000000", "--data-dir", ""], /--data-dir is empty/],
      [["logs", "ktpr00000000", "--data-dir", ""], /--data-dir is empty/],
      [["list", "--data-dir", ""], /--data-dir is empty/],
      [["cancel", "ktpr00000000", "--data-dir", ""], /--data-dir is empty/],
      [["resume", "ktpr00000000", "--data-dir", ""], /--data-dir is empty/],
    ];
    for (const [args, message] of cases) {
      const result = await ktDeno(args, dir);
      assert.equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
      assert.match(result.stderr, message);
    }
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["pipeline.yaml"]);
    assert.equal(await exists("/kt-metadata"), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

async function runFsOps(ops: { op: string; path: string; text?: string }[], dataDir: string) {
  const { dir, path } = await specFile({
    name: "guard",
    jobs: [{
      name: "ops",
      type: "static",
      tasks: ops.map((op, i) => ({ function: "hostile.fsOp", args: { ...op, name: String(i) } })),
    }],
  });
  const result = await ktDeno(
    ["run", path, "--data-dir", dataDir, "--functions", FIXTURE_FUNCTIONS, "--concurrency", "1"],
    dir,
  );
  await Deno.remove(dir, { recursive: true });
  const outcomes = ops.map((_, i) => Deno.readTextFileSync(`${dataDir}/outcome/${i}`));
  return { result, outcomes };
}

Deno.test("a task cannot remove the data dir, change kt-metadata, or leave through a symlink", async () => {
  const base = await Deno.makeTempDir({ prefix: "kt-guard-" });
  const data = `${base}/data`;
  const elsewhere = `${base}/elsewhere`;
  try {
    await Deno.mkdir(elsewhere);
    await Deno.writeTextFile(`${elsewhere}/secret.txt`, "secret");
    await Deno.mkdir(data);
    await Deno.symlink(elsewhere, `${data}/link`);
    await Deno.symlink(`${elsewhere}/secret.txt`, `${data}/secret-link.txt`);
    await Deno.mkdir(`${data}/inside`);
    await Deno.symlink(`${data}/inside`, `${data}/inner-link`);
    await Deno.symlink(`${data}/kt-metadata`, `${data}/meta-link`);
    // An earlier run, which must survive.
    const first = await specFile({
      name: "first",
      jobs: [{ type: "static", tasks: [{ command: ["true"] }] }],
    });
    assert.equal((await ktDeno(["run", first.path, "--data-dir", data], first.dir)).code, 0);
    await Deno.remove(first.dir, { recursive: true });
    const { result, outcomes } = await runFsOps([
      { op: "rmdir", path: "." },
      { op: "rmdir", path: "" },
      { op: "rmdir", path: "a/.." },
      { op: "rmdir", path: "kt-metadata" },
      { op: "write", path: "kt-metadata/x.txt", text: "x" },
      { op: "remove", path: "kt-metadata/x.txt" },
      { op: "read", path: "link/secret.txt" },
      { op: "write", path: "link/pwned.txt", text: "pwned" },
      { op: "read", path: "secret-link.txt" },
      { op: "write", path: "meta-link/y.txt", text: "y" },
      { op: "read", path: "../elsewhere/secret.txt" },
      { op: "write", path: "/tmp/abs.txt", text: "x" },
      { op: "write", path: "", text: "x" },
      { op: "write", path: "inner-link/ok.txt", text: "fine" },
      { op: "listdir", path: "kt-metadata" },
    ], data);
    assert.equal(result.code, 0, result.stderr);
    const refused = (i: number, rule: RegExp) => {
      assert.match(outcomes[i], /^error refused path /, `${i}: ${outcomes[i]}`);
      assert.match(outcomes[i], rule, `${i}: ${outcomes[i]}`);
    };
    refused(0, /removing the data dir's root is refused/);
    refused(1, /removing the data dir's root is refused/);
    refused(2, /removing the data dir's root is refused/);
    refused(3, /kt-metadata\/ holds kt-deno's records of runs: tasks may read it, not change it/);
    refused(4, /kt-metadata\//);
    refused(5, /kt-metadata\//);
    refused(6, /"link\/secret.txt": it leads out of the data dir through a symlink/);
    refused(7, /"link\/pwned.txt": it leads out of the data dir through a symlink/);
    refused(8, /through a symlink/);
    refused(9, /leads into kt-metadata\/ through a symlink/);
    refused(10, /'\.\.' leads out of the data dir/);
    refused(11, /an absolute path is not in the data dir/);
    refused(12, /the data dir's root is a folder/);
    assert.equal(outcomes[13], "ok null");
    assert.match(outcomes[14], /^ok \["ktpr/);
    assert.equal(await exists(`${elsewhere}/pwned.txt`), false);
    assert.equal(await exists(`${data}/kt-metadata/x.txt`), false);
    assert.equal(Deno.readTextFileSync(`${data}/inside/ok.txt`), "fine");
    const list = await ktDeno(["list", "--data-dir", data], base);
    assert.match(list.stdout, /first/, "the earlier run is still there");
    assert.match(list.stdout, /guard/);
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});

Deno.test("a task log replaced by a symlink out of the data dir is not shown by logs, status or report", async () => {
  const base = await Deno.makeTempDir({ prefix: "kt-guard-log-" });
  const data = `${base}/data`;
  try {
    await Deno.writeTextFile(`${base}/secret.txt`, "root:x:0:0:SECRET\n");
    const { dir, path } = await specFile({
      name: "p",
      jobs: [{ name: "a", type: "static", tasks: [{ command: ["sh", "-c", "echo hi; exit 3"] }] }],
    });
    const run = await ktDeno(["run", path, "--data-dir", data], dir);
    assert.equal(run.code, 1);
    const runId = runIdOf(run.stdout);
    const log = `${data}/kt-metadata/${runId}/logs/a/0.log`;
    await Deno.remove(log);
    await Deno.symlink(`${base}/secret.txt`, log);
    await Deno.remove(`${data}/kt-metadata/${runId}/report.html`).catch(() => {});
    for (
      const args of [["logs", runId], ["logs", runId, "a/0"], ["status", runId], ["report", runId]]
    ) {
      const result = await ktDeno([...args, "--data-dir", data], dir);
      assert.doesNotMatch(result.stdout + result.stderr, /SECRET/, args.join(" "));
      assert.doesNotMatch(result.stderr, /Error:|at .*\.ts:\d+/, args.join(" "));
    }
    const report = await Deno.readTextFile(`${data}/kt-metadata/${runId}/report.html`);
    assert.doesNotMatch(report, /SECRET/);
    await Deno.remove(dir, { recursive: true });
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});

Deno.test("glob lists a symlinked folder once, and a link to its own parent does not loop", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kt-guard-walk-" });
  try {
    await Deno.mkdir(`${dir}/a/b`, { recursive: true });
    await Deno.writeTextFile(`${dir}/a/b/f.txt`, "x");
    await Deno.symlink(`${dir}/a`, `${dir}/a/b/loop`);
    await Deno.symlink("/etc", `${dir}/a/out`);
    const fs = new DataFs(openStorage(dir));
    assert.deepEqual(await fs.glob("**"), ["a", "a/b", "a/b/f.txt", "a/b/loop"]);
    await fs.mkdir("");
    await fs.mkdir(".");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a folder resolved once still refuses a file, or a folder removed, that becomes a symlink out", async () => {
  const base = await Deno.makeTempDir({ prefix: "kt-guard-memo-" });
  try {
    await Deno.mkdir(`${base}/data/mid`, { recursive: true });
    await Deno.mkdir(`${base}/elsewhere`);
    await Deno.writeTextFile(`${base}/elsewhere/secret.txt`, "secret");
    const fs = new DataFs(openStorage(`${base}/data`));
    await fs.write("mid/a.txt", "a");
    assert.equal(await fs.read("mid/a.txt"), "a"); // mid/ is resolved, and remembered
    // A file of a remembered folder replaced by a symlink out: its lstat says so.
    await Deno.remove(`${base}/data/mid/a.txt`);
    await Deno.symlink(`${base}/elsewhere/secret.txt`, `${base}/data/mid/a.txt`);
    await assert.rejects(fs.read("mid/a.txt"), /leads out of the data dir through a symlink/);
    await assert.rejects(fs.stat("mid/a.txt"), /leads out of the data dir through a symlink/);
    // A folder removed through the data dir and put back as a symlink out is resolved again.
    await fs.rmdir("mid");
    await Deno.symlink(`${base}/elsewhere`, `${base}/data/mid`);
    await assert.rejects(fs.read("mid/secret.txt"), /leads out of the data dir through a symlink/);
    await assert.rejects(fs.stat("mid/secret.txt"), /leads out of the data dir through a symlink/);
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});

Deno.test("a Python task meets the same guard: ValueError for the root and kt-metadata", async () => {
  const { dir, path } = await specFile({
    name: "py-guard",
    jobs: [{
      name: "py",
      type: "static",
      tasks: [{ function: "guard.attempts", args: { target: "outcomes.json" } }],
    }],
  });
  try {
    const functions = new URL("./fixtures/py_functions", import.meta.url).pathname;
    const result = await ktDeno(
      ["run", path, "--data-dir", "data", "--functions", functions],
      dir,
    );
    assert.equal(result.code, 0, result.stderr);
    const outcomes = JSON.parse(await Deno.readTextFile(`${dir}/data/outcomes.json`));
    assert.match(outcomes.rmdir_root, /^ValueError: .*removing the data dir's root is refused/);
    for (const name of ["write_metadata", "append_metadata", "rmdir_metadata", "open_metadata"]) {
      assert.match(outcomes[name], /^ValueError: .*kt-metadata\/ holds kt-deno's records/, name);
    }
    assert.equal(outcomes.list_metadata, "ok 1");
    assert.equal(await exists(`${dir}/data/kt-metadata/x.txt`), false);
    assert.equal(await exists(`${dir}/data/kt-metadata/z.txt`), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
