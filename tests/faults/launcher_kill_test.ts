/**
 * A local launcher killed with SIGKILL (no handler runs) takes every task process with it:
 * command tasks with their children, and function workers with theirs.
 */
import assert from "node:assert/strict";
import { exists, FIXTURE_FUNCTIONS, runIdOf, spawnKtDeno, specFile } from "../cli_helpers.ts";
import { descendants, running } from "./processes.ts";
import { until } from "../until.ts";

Deno.test({
  name: "SIGKILL of a local launcher: no task process outlives it, no late marker appears",
  sanitizeResources: false,
  fn: async () => {
    const { dir, path } = await specFile({
      name: "lingering",
      jobs: [{
        type: "static",
        name: "slow",
        tasks: [
          {
            command: [
              "sh",
              "-c",
              'sleep 60 & echo $$ > "$DATA_DIR/started-cmd"; sleep 20; echo late > "$DATA_DIR/late-cmd"',
            ],
          },
          { function: "faults.lingering", args: { name: "fn", ms: 20_000 } },
        ],
      }],
    });
    const dataDir = `${dir}/data`;
    const launcher = spawnKtDeno(
      ["run", path, "--data-dir", dataDir, "--functions", FIXTURE_FUNCTIONS, "--concurrency", "2"],
      dir,
    );
    const decoder = new TextDecoder();
    let stdout = "";
    const reading = (async () => {
      for await (const chunk of launcher.stdout) stdout += decoder.decode(chunk);
    })();
    await until(
      "both tasks to start",
      60,
      async () => await exists(`${dataDir}/started-cmd`) && await exists(`${dataDir}/started/fn`),
    );
    const started = descendants(launcher.pid);
    // A worker and its `sleep`, `sh` and its `sleep`s, and a watchdog for each task.
    assert.ok(started.length >= 6, `only ${started.length} processes below the launcher`);

    const killedAt = Date.now();
    Deno.kill(launcher.pid, "SIGKILL");
    assert.equal((await launcher.status).signal, "SIGKILL");
    await reading;
    await launcher.stderr.cancel();
    await until(
      "every process the run started to end",
      10,
      () => started.every((pid) => !running(pid)),
      { everyMs: 50 },
    );
    console.log(
      `${started.length} processes gone ${Date.now() - killedAt} ms after the launcher's SIGKILL`,
    );
    assert.equal(await exists(`${dataDir}/late-cmd`), false);
    assert.equal(await exists(`${dataDir}/late/fn`), false);
    assert.match(runIdOf(stdout), /^ktpr/);
    await Deno.remove(dir, { recursive: true });
  },
});
