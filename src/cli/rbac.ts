/**
 * `kt-deno rbac`: prints the ServiceAccount, Role and RoleBinding the controller needs;
 * with `--for schedules`, the Role a person needs to manage schedules.
 *
 * @module
 */
import { Command } from "commander";
import { rbacManifests } from "../k8s/manifests.ts";
import { schedulerRole } from "../k8s/schedule_manifests.ts";
import { isDnsLabel } from "../spec/names.ts";
import { UsageError } from "./errors.ts";

/** The `rbac` subcommand. */
export function rbacSubcommand(exit: (code: number) => void): Command {
  return new Command("rbac")
    .description("print the controller's RBAC manifests, for `kubectl apply -f -`")
    .option("-n, --namespace <ns>", "namespace the pipelines run in", "default")
    .option(
      "--for <who>",
      "runs (the controller's service account) or schedules (a Role for the person who manages them)",
      "runs",
    )
    .action(async (flags: { namespace: string; for: string }) => {
      if (!isDnsLabel(flags.namespace)) {
        throw new UsageError(
          `--namespace ${JSON.stringify(flags.namespace)} is not a valid namespace name`,
        );
      }
      if (flags.for !== "runs" && flags.for !== "schedules") {
        throw new UsageError(`--for must be runs or schedules, got ${JSON.stringify(flags.for)}`);
      }
      const { stringify } = await import("yaml");
      const manifests = flags.for === "runs"
        ? rbacManifests(flags.namespace)
        : [schedulerRole(flags.namespace)];
      console.log(manifests.map((m) => stringify(m)).join("---\n").trimEnd());
      if (flags.for === "schedules") {
        console.error(
          "kt-deno: this Role is for the person who creates schedules (the runs' kt-pod service " +
            "account needs no CronJob rights); bind it with: kubectl create rolebinding " +
            `kt-deno-scheduler --role kt-deno-scheduler --user NAME -n ${flags.namespace}`,
        );
      }
      exit(0);
    });
}
