/**
 * The data dir is sacred: flags that cannot mean `/`, paths that cannot leave the data
 * dir (symlinks included), `kt-metadata/` read-only to tasks, the root never removed.
 */
import assert from "node:assert/strict";
import { exists, FIXTURE_FUNCTIONS, ktDeno, specFile } from "./cli_helpers.ts";

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

export { FIXTURE_FUNCTIONS };
