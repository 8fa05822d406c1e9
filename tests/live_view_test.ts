/**
 * The live view under a real terminal (tmux, read back with `capture-pane`): it fits the
 * pane, folds what does not fit, survives a resize, leaves one final table, and says
 * `not started` for tasks that never ran; plain lines when CI is set.
 */
import assert from "node:assert/strict";
import { frameLines } from "../src/run/live_frame.ts";
import { ktDeno, runIdOf, spawnKtDeno, specFile } from "./cli_helpers.ts";
import { until } from "./until.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const CONFIG = new URL("../deno.json", import.meta.url).pathname;
const tmuxWorks = () =>
  new Deno.Command("tmux", { args: ["-V"] }).output().then((o) => o.success, () => false);

/** tmux, installed from Debian when missing and this is root (as the cluster tests do). */
async function ensureTmux(): Promise<boolean> {
  if (await tmuxWorks()) return true;
  if (Deno.uid() !== 0) {
    console.error("tmux is missing: the live view tests are skipped (apt-get install tmux)");
    return false;
  }
  const env = { DEBIAN_FRONTEND: "noninteractive" };
  const apt = (...args: string[]) =>
    new Deno.Command("apt-get", { args: ["-o", "DPkg::Lock::Timeout=600", ...args], env })
      .output();
  if (!(await apt("install", "-y", "-qq", "--no-install-recommends", "tmux")).success) {
    await apt("update", "-qq");
    await apt("install", "-y", "-qq", "--no-install-recommends", "tmux");
  }
  return await tmuxWorks();
}

const HAS_TMUX = await ensureTmux();

Deno.test("a frame never has more lines than rows - 1, none wider than the terminal", () => {
  const jobs = Array.from({ length: 80 }, (_, i) => ({
    name: `job-with-a-long-name-${i}`,
    status: i % 20 === 3 ? "Running" : i === 7 ? "Failed" : i < 50 ? "Completed" : "Pending",
  }));
  for (const [rows, columns] of [[30, 100], [10, 40], [2, 20], [1, 5], [100, 200]]) {
    const lines = frameLines(jobs, new Map(), rows, columns);
    assert.ok(lines.length <= Math.max(1, rows - 1), `${rows}x${columns}: ${lines.length} lines`);
    for (const line of lines) assert.ok(Array.from(line).length < columns, line);
  }
  const lines = frameLines(jobs, new Map(), 10, 100);
  assert.deepEqual(lines.slice(0, 8).map((l) => l.split(/\s+/)[1]), [
    "job-with-a-long-name-3",
    "job-with-a-long-name-7",
    "job-with-a-long-name-23",
    "job-with-a-long-name-43",
    "job-with-a-long-name-63",
    "job-with-a-long-name-0",
    "job-with-a-long-name-1",
    "job-with-a-long-name-2",
  ]);
  assert.equal(lines.at(-1), "… 43 completed, 29 pending");
});

/** A tmux server of its own, so nothing else is touched. */
class Tmux {
  readonly socket = `kt-live-${crypto.randomUUID().slice(0, 8)}`;

  async run(...args: string[]): Promise<string> {
    const out = await new Deno.Command("tmux", { args: ["-L", this.socket, ...args] }).output();
    if (!out.success) throw new Error(`tmux ${args[0]}: ${new TextDecoder().decode(out.stderr)}`);
    return new TextDecoder().decode(out.stdout);
  }

  /** The visible pane, its lines without trailing blanks. */
  async screen(): Promise<string[]> {
    return (await this.run("capture-pane", "-p", "-t", "main")).replace(/\n+$/, "").split("\n");
  }

  /** The pane's whole history and screen. */
  async history(): Promise<string> {
    return await this.run("capture-pane", "-p", "-S", "-", "-E", "-", "-t", "main");
  }

  async kill(): Promise<void> {
    await this.run("kill-server").catch(() => {});
  }
}

async function startInTmux(
  tmux: Tmux,
  dir: string,
  spec: string,
  rows: number,
  cols: number,
  env = "",
) {
  const command = [
    Deno.execPath(),
    "run",
    "-A",
    "--quiet",
    "--config",
    CONFIG,
    MAIN,
    "run",
    spec,
    "--data-dir",
    `${dir}/data`,
    "--concurrency",
    "2",
  ].map((a) => `'${a}'`).join(" ");
  await tmux.run(
    "new-session",
    "-d",
    "-s",
    "main",
    "-x",
    String(cols),
    "-y",
    String(rows),
    `env -u CI TERM=xterm-256color ${env} ${command}; echo EXIT=$?; sleep 600`,
  );
}

Deno.test({
  name: "80 jobs in a 30-row pane: the view fits, folds, survives a resize, ends in one table",
  ignore: !HAS_TMUX,
  fn: async () => {
    const { dir, path } = await specFile({
      name: "wide",
      jobs: Array.from({ length: 80 }, (_, i) => ({
        name: `job-${i}`,
        type: "static",
        tasks: [{ command: ["sleep", "0.15"] }],
      })),
    });
    const tmux = new Tmux();
    try {
      await startInTmux(tmux, dir, path, 30, 100);
      let sawFold = "";
      let resized = false;
      await until("the run to end", 120, async () => {
        const screen = await tmux.screen();
        const size = resized ? 15 : 30;
        const frame = screen.filter((line) => /^[▶✔·✘…-] /.test(line));
        assert.ok(
          frame.length <= size - 1,
          `a frame of ${frame.length} lines:\n${screen.join("\n")}`,
        );
        const fold = screen.find((line) => /^… \d+ (completed|pending)/.test(line));
        if (fold) sawFold ||= fold;
        if (!resized && /✔/.test(screen.join("\n"))) {
          await tmux.run("resize-window", "-t", "main", "-x", "60", "-y", "15");
          resized = true;
        }
        return screen.some((line) => line.startsWith("EXIT="));
      });
      assert.match(sawFold, /^… (\d+ (completed|pending)(, )?)+/);
      const history = (await tmux.history()).split("\n").filter((line) => line.trim() !== "");
      assert.ok(history.some((line) => line === "EXIT=0"), history.join("\n"));
      // No frames left in the scrollback: the run id, the 15 lines of the frame that tmux
      // pushed up when the pane shrank to 15 rows (once), one final table of at most 14
      // lines, and the run's last lines. (Before, frames piled up: 980 table lines.)
      const end = history.findIndex((line) => /^run ktpr\w+ Completed/.test(line));
      const finalTable = history.slice(end - 14, end);
      assert.ok(
        finalTable.slice(0, 13).every((line) => /^✔ job-\d+ +Completed/.test(line)) &&
          /^… 67 completed$/.test(finalTable[13]),
        `not one final table of 14 lines:\n${history.join("\n")}`,
      );
      const tableLines = history.filter((line) => /^[▶✔·✘…-] /.test(line));
      assert.ok(
        tableLines.length <= 15 + 14,
        `${tableLines.length} table lines:\n${history.join("\n")}`,
      );
    } finally {
      await tmux.kill();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "after Ctrl-C, tasks that never started say not started in the view, state and report",
  ignore: !HAS_TMUX,
  fn: async () => {
    const { dir, path } = await specFile({
      name: "stopped",
      jobs: [{
        name: "ten",
        type: "static",
        tasks: Array.from({ length: 10 }, () => ({ command: ["sleep", "30"] })),
      }],
    });
    const tmux = new Tmux();
    try {
      await startInTmux(tmux, dir, path, 20, 100);
      await until(
        "two tasks to run",
        60,
        async () => (await tmux.screen()).some((line) => /0\/10 done, 2 running/.test(line)),
      );
      await tmux.run("send-keys", "-t", "main", "C-c");
      const screen = await until("the run to end", 60, async () => {
        const screen = await tmux.screen();
        return screen.some((line) => line.startsWith("EXIT=")) && screen;
      });
      const text = screen.join("\n");
      assert.match(text, /EXIT=130/);
      assert.match(text, /ten\s+Failed\s+0\/10 done, 0 running, 2 failed, 8 not started/);
      const runId = /run id: (ktpr\w+)/.exec(text)![1];
      const state = JSON.parse(
        await Deno.readTextFile(`${dir}/data/kt-metadata/${runId}/pipeline_run_state.json`),
      );
      assert.equal(state.status, "Interrupted");
      assert.match(state.jobs.ten.error, /^interrupted: SIGINT/);
      const report = await Deno.readTextFile(`${dir}/data/kt-metadata/${runId}/report.html`);
      assert.match(report, /10 tasks: 0 done, 2 failed, 8 not started/);
    } finally {
      await tmux.kill();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "with CI set, a terminal gets plain lines, no live table",
  ignore: !HAS_TMUX,
  fn: async () => {
    const { dir, path } = await specFile({
      name: "ci",
      jobs: [{ name: "only", type: "static", tasks: [{ command: ["echo", "hello"] }] }],
    });
    const tmux = new Tmux();
    try {
      await startInTmux(tmux, dir, path, 20, 100, "CI=true");
      await until(
        "the run to end",
        60,
        async () => (await tmux.screen()).some((line) => line.startsWith("EXIT=")),
      );
      const history = await tmux.history();
      assert.match(history, /Z only Running\n/);
      assert.match(history, /only\[0\] hello\n/);
      assert.match(history, /Z only Completed\n/);
      assert.doesNotMatch(history, /^[▶✔] /m);
    } finally {
      await tmux.kill();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("a job stopped by its timeout: its tasks that never started say so in the state", async () => {
  const { dir, path } = await specFile({
    name: "late",
    jobs: [{
      name: "slow",
      type: "static",
      timeout: 1,
      tasks: Array.from({ length: 10 }, () => ({ command: ["sleep", "30"] })),
    }],
  });
  try {
    const result = await ktDeno(["run", path, "--data-dir", "data", "--concurrency", "2"], dir);
    assert.equal(result.code, 1);
    const runId = runIdOf(result.stdout);
    const state = JSON.parse(
      await Deno.readTextFile(`${dir}/data/kt-metadata/${runId}/pipeline_run_state.json`),
    );
    assert.match(
      state.jobs.slow.error,
      /^2 of 10 tasks failed \(8 not started\): task 0: job timed out after 1s/,
    );
    const report = await Deno.readTextFile(`${dir}/data/kt-metadata/${runId}/report.html`);
    assert.match(report, /10 tasks: 0 done, 2 failed, 8 not started/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a cancelled run says cancelled everywhere, the launcher's lines included", async () => {
  const { dir, path } = await specFile({
    name: "stop",
    jobs: [{ name: "long", type: "static", tasks: [{ command: ["sleep", "30"] }] }],
  });
  try {
    const child = spawnKtDeno(["run", path, "--data-dir", "data"], dir, { CI: "true" });
    const state = `${dir}/data/kt-metadata`;
    const runId = await until("the run to start", 60, async () => {
      const [id] = await Array.fromAsync(Deno.readDir(state)).catch(() => []);
      if (!id) return undefined;
      const doc = await Deno.readTextFile(`${state}/${id.name}/pipeline_run_state.json`)
        .then(JSON.parse, () => undefined);
      return doc?.jobs.long.status === "Running" && id.name;
    });
    const cancel = await ktDeno(["cancel", runId, "--data-dir", "data"], dir);
    assert.equal(cancel.code, 0, cancel.stderr);
    const output = await child.output();
    const stderr = new TextDecoder().decode(output.stderr);
    const stdout = new TextDecoder().decode(output.stdout);
    assert.match(stderr, /long Failed: cancelled: by kt-deno cancel/);
    assert.doesNotMatch(stderr + stdout, /interrupt/i);
    assert.match(stdout, /run ktpr\w+ Cancelled/);
    const doc = JSON.parse(await Deno.readTextFile(`${state}/${runId}/pipeline_run_state.json`));
    assert.equal(doc.status, "Cancelled");
    assert.equal(doc.jobs.long.error, "cancelled: by kt-deno cancel");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
