/**
 * The job fields kube-transform writes even when they are empty: a static job's
 * `function` and `args` are `null`, a dynamic job's `tasks` is `null`, so code written
 * against its state file (`job["function"]`) finds every key.
 *
 * @module
 */
import type { Job } from "../spec/schema.ts";

/**
 * A job with kube-transform's empty fields filled in: `null` where a job of its type
 * takes no such field.
 *
 * @example
 * ```ts
 * import { withKtFields } from "./kt_fields.ts";
 * const job = withKtFields({ name: "a", type: "static", memory: "1Gi", cpu: "500m", dependencies: [], tasks: [] });
 * job.function; // null
 * ```
 */
export function withKtFields(job: Job): Job {
  const empty = job.type === "static"
    ? { function: null, args: null }
    : { function: null, args: {}, tasks: null };
  // null is what the document holds; the engine reads these fields with `== null`.
  return { ...empty, ...job } as unknown as Job;
}
