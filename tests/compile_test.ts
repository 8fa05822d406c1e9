import assert from "node:assert/strict";

const ROOT = new URL("..", import.meta.url).pathname;

Deno.test("deno compile resolves and embeds the whole graph (runtime stood in by `true`)", async () => {
  const out = await Deno.makeTempDir({ prefix: "kt-compile-" });
  try {
    const trueBin = ["/usr/bin/true", "/bin/true"].find((path) => {
      try {
        return Deno.statSync(path).isFile;
      } catch {
        return false;
      }
    })!;
    const result = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        `${ROOT}scripts/compile.ts`,
        "--target",
        "x86_64-unknown-linux-gnu",
        "--functions",
        `${ROOT}examples/hello-world/kt_functions`,
        "--out",
        out,
      ],
      env: { DENORT_BIN: trueBin, NO_COLOR: "1" },
    }).output();
    const report = new TextDecoder().decode(result.stdout) +
      new TextDecoder().decode(result.stderr);
    assert.equal(result.code, 0, report);
    const folders = [...Deno.readDirSync(`${ROOT}src`)].filter((e) => e.isDirectory).map((e) =>
      e.name
    );
    for (
      const part of ["main.ts", "build_info.json", "kt_functions", "client-node", "zod", ...folders]
    ) {
      assert.ok(report.includes(part), `the compile report names ${part}`);
    }
    const info = JSON.parse(await Deno.readTextFile(`${ROOT}dist/build_info.json`));
    assert.equal(info.functions, "examples/hello-world/kt_functions");
    assert.match(info.commit, /^([0-9a-f]{12}|unknown)$/);
    assert.ok((await Deno.stat(`${out}/kt-deno-x86_64-unknown-linux-gnu`)).size > 1_000_000);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("our modules use no dynamic import the compiler cannot follow", async () => {
  const offenders: string[] = [];
  const walk = async (dir: string) => {
    for await (const entry of Deno.readDir(dir)) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory) await walk(path);
      else if (path.endsWith(".ts") && !dir.endsWith("/kt_functions")) {
        const text = await Deno.readTextFile(path);
        for (const match of text.matchAll(/\bimport\(\s*([^)]*)\)/g)) {
          const literal = /^["'][^"'`$]+["']$/.test(match[1].trim());
          const userFunction = path.endsWith("src/task/functions.ts");
          if (!literal && !userFunction) offenders.push(`${path}: import(${match[1]})`);
        }
      }
    }
  };
  await walk(`${ROOT}src`);
  await walk(`${ROOT}scripts`);
  assert.deepEqual(offenders, []);
});
