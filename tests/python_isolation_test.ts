/**
 * Isolation between the tasks of one Python worker: what a task changes in its process
 * (streams, argv, environment, working directory, logging, signals) is put back before the
 * next task, and the processes it started, in new sessions and daemons included, end with it.
 */
import assert from "node:assert/strict";
import { ktDeno, runIdOf, specFile, stateOf } from "./cli_helpers.ts";
import { running } from "./faults/processes.ts";

const FUNCTIONS = new URL("./fixtures/py_functions", import.meta.url).pathname;

const MODES: [string, Record<string, string>][] = [
  ["in the worker", {}],
  ["forked per task", { KT_PYTHON_FORK: "1" }],
];

for (const [mode, env] of MODES) {
  Deno.test(`a task that changes its worker's process changes nothing for the next task (${mode})`, async () => {
    const { dir, path } = await specFile({
      name: "python-isolation",
      jobs: [{
        name: "iso",
        type: "static",
        tasks: [
          { function: "isolation.observe", args: { target: "before.json" } },
          { function: "isolation.disturb" },
          { function: "isolation.observe", args: { target: "after.json" } },
        ],
      }],
    });
    const data = `${dir}/data`;
    try {
      const result = await ktDeno(
        ["run", path, "--functions", FUNCTIONS, "--data-dir", data, "--concurrency", "1"],
        dir,
        env,
      );
      assert.equal(result.code, 0, result.stdout + result.stderr);
      const runId = runIdOf(result.stdout);
      assert.equal((await stateOf(data, runId)).status, "Completed");
      const read = async (name: string) => JSON.parse(await Deno.readTextFile(`${data}/${name}`));
      const before = await read("before.json");
      const after = await read("after.json");
      const children: Record<string, number> = await read("children.json");
      if (!env.KT_PYTHON_FORK) assert.equal(after.pid, before.pid, "the same worker ran both");
      assert.deepEqual(after.children_alive, { plain: false, session: false, daemon: false });
      const { pid: _b, children_alive: _ba, ...was } = before;
      const { pid: _a, children_alive: _aa, ...is } = after;
      assert.deepEqual(is, was);
      assert.equal(is.leak, null);
      assert.equal(is.stdout_closed, false);
      assert.equal(is.sigterm, "SIG_DFL");
      // The next task's print and logging reach its log.
      const log = await Deno.readTextFile(`${data}/kt-metadata/${runId}/logs/iso/2.log`);
      assert.match(log, /^observed after\.json$/m);
      assert.match(log, /^INFO:root:logged after\.json$/m);
      assert.match(
        await Deno.readTextFile(`${data}/kt-metadata/${runId}/logs/iso/1.log`),
        /^closing stdout and stderr$/m,
      );
      for (const [name, pid] of Object.entries(children)) {
        assert.equal(running(pid), false, `${name} (${pid}) outlived its task`);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}
