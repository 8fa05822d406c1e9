/**
 * A pod's task log: what the task prints (console output of a function task, the
 * output of a command task) goes to the pod's stdout as before and to the task's log
 * in the data dir.
 *
 * @module
 */
import type { LogSink } from "../records/log_sink.ts";

const METHODS = ["log", "info", "debug", "warn", "error"] as const;

function format(parts: unknown[]): string {
  return parts.map((part) => typeof part === "string" ? part : Deno.inspect(part)).join(" ");
}

/**
 * Tees this process's console into the log at `path` until the returned function is
 * called.
 *
 * @example
 * ```ts ignore
 * const restore = captureConsole(sink, taskLogPath(runId, job, index));
 * try { await runTask(request); } finally { restore(); await sink.close(); }
 * ```
 */
export function captureConsole(sink: LogSink, path: string): () => void {
  const saved = METHODS.map((method) => [method, console[method]] as const);
  for (const [method, original] of saved) {
    console[method] = (...parts: unknown[]) => {
      original.apply(console, parts);
      for (const line of format(parts).split("\n")) sink.line(path, line);
    };
  }
  return () => {
    for (const [method, original] of saved) console[method] = original;
  };
}
