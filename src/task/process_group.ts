/**
 * Task processes that die with the run that started them. Each one is the leader of a
 * process group of its own (with everything it starts), watched by a small `sh` process
 * that reads a pipe from this process: when that pipe closes (this process ended, however
 * it ended, SIGKILL included, or released the task) the watchdog kills the whole group.
 *
 * @module
 */

/** Kills the process group given as `$1` once its standard input reaches end of file. */
const WATCHDOG = 'read -r _; kill -s KILL -- "-$1" 2>/dev/null';

/** A task process in its own process group, watched for its parent's death. */
export interface GroupProcess {
  child: Deno.ChildProcess;
  /** Kills the process and everything it started. */
  kill(): void;
  /** Ends the watch: kills what the process left running, and lets the watchdog exit. */
  release(): void;
}

/**
 * Spawns a program as the leader of a new process group (a new session, so a terminal's
 * Ctrl-C reaches only the run) that is killed when this process dies.
 *
 * @example
 * ```ts
 * import { spawnInGroup } from "./process_group.ts";
 * const task = spawnInGroup("sh", { args: ["-c", "sleep 1 & wait"] });
 * await task.child.status;
 * task.release();
 * ```
 */
export function spawnInGroup(program: string, options: Deno.CommandOptions): GroupProcess {
  const child = new Deno.Command(program, { ...options, detached: true }).spawn();
  let watchdog: WritableStreamDefaultWriter<Uint8Array> | undefined;
  try {
    const process = new Deno.Command("sh", {
      args: ["-c", WATCHDOG, "kt-deno-watchdog", String(child.pid)],
      stdin: "piped",
      stdout: "null",
      stderr: "null",
      detached: true,
    }).spawn();
    process.unref();
    watchdog = process.stdin.getWriter();
  } catch {
    // No `sh` here (a minimal image): the group still ends with the task, not with us.
  }
  const release = () => {
    watchdog?.close().catch(() => {});
    watchdog = undefined;
  };
  return {
    child,
    kill: () => {
      killGroup(child.pid);
      release();
    },
    release,
  };
}

function killGroup(pid: number): void {
  try {
    Deno.kill(-pid, "SIGKILL");
  } catch {
    // the group is gone already
  }
}
