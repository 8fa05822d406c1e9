/**
 * The worker `kt-deno run` starts ahead of its first task (executors/prestart.ts): it is
 * the one that runs that task, it has imported the task's module before the task came,
 * and a run that stops before it starts leaves no such worker behind.
 */
import assert from "node:assert/strict";
import { ktDeno, runIdOf, stateOf } from "./cli_helpers.ts";

/** A functions folder whose module notes, when imported, whether a task was running then. */
async function probeFunctions(dir: string): Promise<string> {
  const functions = `${dir}/fns`;
  await Deno.mkdir(functions);
  await Deno.writeTextFile(
    `${functions}/probe.ts`,
    `// Set when a task imports this module (its environment names its job), unset when the
// worker imported it ahead of its first task.
const importedBy = Deno.env.get("KT_JOB_NAME") ?? null;
const importedIn = Deno.pid;

export async function record(_args: unknown, ctx: { jobName: string; fs: { writeJson(p: string, v: unknown): Promise<void> } }) {
  await ctx.fs.writeJson(\`probe/\${ctx.jobName}.json\`, { importedBy, importedIn, ranIn: Deno.pid });
}
`,
  );
  return functions;
}

for (const memory of [undefined, "512Mi"]) {
  Deno.test(`the first task runs in the worker started ahead, which imported its module first (memory ${memory ?? "by default"})`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "kt-prestart-" });
    try {
      const functions = await probeFunctions(dir);
      const job = { name: "first", type: "static", tasks: [{ function: "probe.record" }] };
      await Deno.writeTextFile(
        `${dir}/spec.json`,
        JSON.stringify({ name: "p", jobs: [memory ? { ...job, memory } : job] }),
      );
      const result = await ktDeno(
        ["run", "spec.json", "--data-dir", "data", "--functions", functions],
        dir,
      );
      assert.equal(result.code, 0, result.stderr);
      const state = await stateOf(`${dir}/data`, runIdOf(result.stdout));
      assert.equal(state.jobs.first.status, "Completed");
      const probe = JSON.parse(await Deno.readTextFile(`${dir}/data/probe/first.json`));
      // Imported by no task (ahead of the first), in the process that then ran the task.
      assert.equal(probe.importedBy, null);
      assert.equal(probe.importedIn, probe.ranIn);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

/** Processes whose environment names `marker` (a worker's preload names its module's path). */
function processesNaming(marker: string): number[] {
  const found: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      if (Deno.readTextFileSync(`/proc/${entry.name}/environ`).includes(marker)) {
        found.push(Number(entry.name));
      }
    } catch { /* gone, or not ours */ }
  }
  return found;
}

Deno.test("a spec that fails its check after the worker started ahead leaves no worker running", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kt-prestart-" });
  try {
    const functions = await probeFunctions(dir);
    // Parsed (the worker starts), then refused by the schema: an unknown field.
    await Deno.writeTextFile(
      `${dir}/spec.json`,
      JSON.stringify({
        name: "p",
        jobs: [{ name: "first", type: "static", tasks: [{ function: "probe.record" }], colour: 1 }],
      }),
    );
    const result = await ktDeno(
      ["run", "spec.json", "--data-dir", "data", "--functions", functions],
      dir,
    );
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /colour/);
    assert.deepEqual(processesNaming(`${functions}/probe.ts`), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
