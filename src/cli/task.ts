/**
 * `kt-deno task`: the command of worker pods; runs the pod's one task, or a packed pod's
 * tasks (`KT_TASKS_PER_POD`).
 *
 * @module
 */
import { Command } from "commander";

/** The `task` subcommand. */
export function taskSubcommand(exit: (code: number) => void): Command {
  return new Command("task")
    .description(
      "run this pod's task, found by JOB_COMPLETION_INDEX (the worker pods' command; exit 0 done, 1 task failed, 2 set up wrong)",
    )
    .action(async () => {
      const { runPod } = await import("../executors/pod_task.ts");
      exit(await runPod());
    });
}
