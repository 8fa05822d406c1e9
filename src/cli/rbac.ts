/**
 * `kt-deno rbac`: prints the ServiceAccount, Role and RoleBinding the controller needs.
 *
 * @module
 */
import { Command } from "commander";
import { rbacManifests } from "../k8s/manifests.ts";
import { isDnsLabel } from "../spec/names.ts";
import { UsageError } from "./errors.ts";

/** The `rbac` subcommand. */
export function rbacSubcommand(exit: (code: number) => void): Command {
  return new Command("rbac")
    .description("print the controller's RBAC manifests, for `kubectl apply -f -`")
    .option("-n, --namespace <ns>", "namespace the pipelines run in", "default")
    .action(async (flags: { namespace: string }) => {
      if (!isDnsLabel(flags.namespace)) {
        throw new UsageError(
          `--namespace ${JSON.stringify(flags.namespace)} is not a valid namespace name`,
        );
      }
      const { stringify } = await import("yaml");
      console.log(rbacManifests(flags.namespace).map((m) => stringify(m)).join("---\n").trimEnd());
      exit(0);
    });
}
