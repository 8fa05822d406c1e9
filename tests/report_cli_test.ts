import assert from "node:assert/strict";
import { exists, FIXTURE_FUNCTIONS, ktDeno, runIdOf, specFile } from "./cli_helpers.ts";

/** One small completed run, shared by the tests below. */
async function finishedRun() {
  const { dir, path } = await specFile({
    name: "small",
    jobs: [{ name: "one", type: "static", tasks: [{ function: "steps.ok", args: { name: "1" } }] }],
  });
  const dataDir = `${dir}/kt-data`;
  const result = await ktDeno(
    ["run", path, "--data-dir", dataDir, "--functions", FIXTURE_FUNCTIONS],
    dir,
  );
  assert.equal(result.code, 0, result.stderr);
  return { dir, dataDir, runId: runIdOf(result.stdout) };
}

Deno.test("report writes the page into the data dir, or to -o FILE", async () => {
  const { dir, dataDir, runId } = await finishedRun();
  try {
    const inDataDir = `${dataDir}/kt-metadata/${runId}/report.html`;
    await Deno.remove(inDataDir);
    const result = await ktDeno(["report", runId, "--data-dir", dataDir], dir);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, `report: kt-metadata/${runId}/report.html in ${dataDir}\n`);
    assert.match(await Deno.readTextFile(inDataDir), new RegExp(`<title>small · ${runId}`));

    const out = await ktDeno(["report", runId, "--data-dir", dataDir, "-o", "mine.html"], dir);
    assert.equal(out.code, 0, out.stderr);
    assert.equal(out.stdout, "report: mine.html\n");
    const html = await Deno.readTextFile(`${dir}/mine.html`);
    assert.match(html, /^<!doctype html>/);
    assert.match(html, /data-job="one" data-status="Completed"/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("report: bad input exits 2, says what is wrong and writes nothing", async () => {
  const { dir, dataDir, runId } = await finishedRun();
  try {
    const cases: [string[], RegExp][] = [
      [["report", "run-1"], /not a run id: "run-1" \(expected ktpr \+ 8 hex characters\)/],
      [["report", "ktpr00000000", "--data-dir", dataDir], /no run ktpr00000000 in data dir/],
      [["report", runId, "--data-dir", dataDir, "--port", "8080"], /--port needs --serve/],
      [
        ["report", runId, "--data-dir", dataDir, "--serve", "-o", "x.html"],
        /--output and --serve do not go together/,
      ],
      [
        ["report", runId, "--data-dir", dataDir, "--serve", "--port", "70000"],
        /--port must be a port number \(0 to 65535\), got "70000"/,
      ],
    ];
    for (const [args, message] of cases) {
      const result = await ktDeno(args, dir);
      assert.equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
      assert.match(result.stderr, message);
      assert.equal(result.stdout, "");
    }
    assert.equal(await exists(`${dir}/x.html`), false);
    assert.equal(await exists(`${dataDir}/kt-metadata/ktpr00000000`), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
