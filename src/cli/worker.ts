/**
 * `kt-deno worker`: the local executor's worker process (internal).
 *
 * @module
 */
import { Command } from "commander";
import { workerLoop } from "../task/worker.ts";

/** The hidden `worker` subcommand. */
export function workerSubcommand(exit: (code: number) => void): Command {
  return new Command("worker")
    .description("run tasks for the local executor (internal)")
    .action(async () => {
      const nonce = Deno.env.get("KT_WORKER_NONCE");
      if (!nonce) throw new Error("kt-deno worker is started by kt-deno run, not by hand");
      await workerLoop(nonce);
      exit(0);
    });
}
