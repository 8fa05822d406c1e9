/**
 * Task processes that die with the run that started them. Each one is the leader of a
 * process group of its own (with everything it starts), watched through a pipe from this
 * process: when that pipe closes (this process ended, however it ended, SIGKILL included,
 * or released the task) a small `sh` watchdog kills the whole group.
 *
 * @module
 */

/**
 * For a program that reads nothing on stdin (command tasks): `sh` starts the watchdog in
 * the background, on the pipe (as fd 3: a background job's stdin is /dev/null), then
 * becomes the program (same PID, same new group).
 */
const WRAPPER = `exec 3<&0
(trap '' HUP INT TERM; read -r _ <&3; kill -s KILL 0) </dev/null >/dev/null 2>&1 &
exec "$@" </dev/null 3<&-`;

/** For a program that needs its stdin (workers): a watchdog beside it kills group `$1`. */
const WATCHDOG = `trap '' HUP INT TERM; read -r _; kill -s KILL -- "-$1" 2>/dev/null`;

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
 * Ctrl-C reaches only the run) that is killed when this process dies. With `stdin` other
 * than `"piped"` the program's stdin is `/dev/null`, and the watchdog lives in the group
 * itself: one process to start, not two.
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
  if (options.stdin === "piped") return spawnWatched(program, options);
  const child = sessionLeader("sh", {
    ...options,
    args: ["-c", WRAPPER, "kt-deno-task", program, ...options.args ?? []],
    stdin: "piped",
  });
  return group(child, child.stdin.getWriter());
}

let setsid: string | null | undefined;

/**
 * Starts a program in a new session through util-linux's `setsid` where there is one:
 * Deno's own `detached` forks this whole process first, which costs more the larger its
 * heap (26 ms against 8 ms per task with a 3-million-object heap).
 */
function sessionLeader(program: string, options: Deno.CommandOptions): Deno.ChildProcess {
  setsid ??= ["/usr/bin/setsid", "/bin/setsid"].find((path) => {
    try {
      return Deno.statSync(path).isFile;
    } catch {
      return false;
    }
  }) ?? null;
  if (setsid === null) return new Deno.Command(program, { ...options, detached: true }).spawn();
  return new Deno.Command(setsid, { ...options, args: [program, ...options.args ?? []] }).spawn();
}

function spawnWatched(program: string, options: Deno.CommandOptions): GroupProcess {
  const child = sessionLeader(program, options);
  let watchdog: WritableStreamDefaultWriter<Uint8Array> | undefined;
  try {
    const process = new Deno.Command("sh", {
      args: ["-c", WATCHDOG, "kt-deno-watchdog", String(child.pid)],
      stdin: "piped",
      stdout: "null",
      stderr: "null",
    }).spawn();
    process.unref();
    watchdog = process.stdin.getWriter();
  } catch {
    // No `sh` here (a minimal image): the group still ends with the task, not with us.
  }
  return group(child, watchdog);
}

function group(
  child: Deno.ChildProcess,
  watch: WritableStreamDefaultWriter<Uint8Array> | undefined,
): GroupProcess {
  const release = () => {
    watch?.close().catch(() => {});
    watch = undefined;
  };
  return {
    child,
    kill: () => {
      try {
        Deno.kill(-child.pid, "SIGKILL");
      } catch {
        // the group is gone already
      }
      release();
    },
    release,
  };
}
