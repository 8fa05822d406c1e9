/**
 * The pipeline spec: kube-transform's `KTPipeline`, field for field, plus kt-deno's
 * optional extensions (`command` tasks, `retries`, `timeout`, `parallelism`,
 * `tasks_per_pod`).
 *
 * @module
 */
import { z } from "zod";
import type { TaskList } from "./packed_tasks.ts";
import { DEFAULT_CPU, DEFAULT_MEMORY, parseMilliQuantity, parseQuantity } from "./quantity.ts";

/** `module.path.function`: identifiers joined by dots, at least one dot, nothing else. */
export const FUNCTION_REF = /^[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)+$/;

const functionRef = z.string().regex(FUNCTION_REF, {
  error: (issue) =>
    `function reference must be module.path.function (identifiers joined by dots), got ${
      JSON.stringify(issue.input)
    }`,
});

const args = z.record(z.string(), z.unknown());

const QUALIFIED_NAME = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$/;

/** True for a Kubernetes label key: `name` or `prefix/name` (a DNS subdomain prefix). */
export function isLabelKey(key: string): boolean {
  const slash = key.lastIndexOf("/");
  const name = slash < 0 ? key : key.slice(slash + 1);
  const prefix = slash < 0 ? undefined : key.slice(0, slash);
  return QUALIFIED_NAME.test(name) &&
    (prefix === undefined || (prefix.length <= 253 && DNS_SUBDOMAIN.test(prefix)));
}

const labelKey = z.string().refine(isLabelKey, {
  error: (issue) => badLabelKey(issue.input),
});

function badLabelKey(key: unknown): string {
  return `invalid label key ${
    JSON.stringify(key)
  }: expected name or prefix/name (name: at most 63 of [A-Za-z0-9-_.], starting and ending alphanumeric)`;
}

const labelValue = z.string().regex(LABEL_VALUE, {
  error: (issue) =>
    `invalid label value ${
      JSON.stringify(issue.input)
    }: expected at most 63 of [A-Za-z0-9-_.], starting and ending alphanumeric`,
});

/** A Kubernetes toleration, spelled as in a pod spec. */
export const TolerationSchema = z.strictObject({
  key: labelKey.optional(),
  operator: z.enum(["Exists", "Equal"]).optional(),
  value: labelValue.optional(),
  effect: z.enum(["NoSchedule", "PreferNoSchedule", "NoExecute"]).optional(),
  tolerationSeconds: z.int().optional(),
}).check((ctx) => {
  const t = ctx.value;
  const problem = t.operator === "Exists" && t.value
    ? "a toleration with operator Exists takes no value"
    : t.key === undefined && t.operator !== "Exists"
    ? "a toleration without a key needs operator Exists"
    : t.tolerationSeconds !== undefined && t.effect !== "NoExecute"
    ? "tolerationSeconds needs effect NoExecute"
    : undefined;
  if (problem) ctx.issues.push({ code: "custom", input: t, message: problem });
});

/** A toleration after validation. */
export type Toleration = z.output<typeof TolerationSchema>;

/**
 * The most completions, and the highest parallelism, Kubernetes allows an Indexed Job
 * with a per-index backoff limit; kt-deno sets that limit on every Job it creates.
 */
export const MAX_INDEXED_JOB = 100_000;

const INDEXED_JOB_LIMIT =
  "Kubernetes' limit for an Indexed Job with a per-index backoff limit, which kt-deno sets";

/**
 * The longest `timeout`, in seconds: the largest timer the runtime has (2^31 - 1 ms, about
 * 24.8 days). A longer one would fire at once; it is refused, never shortened.
 */
export const MAX_TIMEOUT_SECONDS = Math.floor((2 ** 31 - 1) / 1000);

/**
 * The largest `memory` (bytes) and `cpu` (millicores): the largest whole number a
 * JavaScript number holds exactly (about 8 PiB, or 9 billion cores). Larger values could
 * not be passed on to a pod, a worker's heap limit or a Python memory limit as written.
 */
export const MAX_QUANTITY = Number.MAX_SAFE_INTEGER;

function quantity(kind: "memory" | "cpu", fallback: string) {
  return z.string().default(fallback).check((ctx) => {
    const value = kind === "memory" ? parseQuantity(ctx.value) : parseMilliQuantity(ctx.value);
    let message: string | undefined;
    if (value === null || value < 0) {
      message = `invalid ${kind} quantity ${
        JSON.stringify(ctx.value)
      }: expected a Kubernetes quantity such as ${
        kind === "memory" ? '"1.5Gi" or "512Mi"' : '"500m" or "2"'
      }`;
    } else if (value > MAX_QUANTITY) {
      message = `${kind} ${JSON.stringify(ctx.value)} is too large: at most ${MAX_QUANTITY} ${
        kind === "memory" ? "bytes (about 8 PiB)" : "millicores"
      }`;
    }
    if (message) ctx.issues.push({ code: "custom", input: ctx.value, message });
  });
}

/** The longest name, as written (before it is sanitized): a DNS subdomain's bound. */
export const MAX_WRITTEN_NAME = 253;

const writtenName = z.string().min(1, { error: "a name cannot be empty" }).max(
  MAX_WRITTEN_NAME,
  {
    error: (issue) =>
      `a name has at most ${MAX_WRITTEN_NAME} characters, found ${(issue.input as string).length}`,
  },
);

const commandWord = z.string().refine((word) => !word.includes("\0"), {
  error: "holds a NUL character, which no process argument can",
});

/** One task of a static job: a function call, or a command run as a process. */
export const TaskSchema = z.strictObject({
  function: functionRef.optional().describe("module.path.function under the functions folder"),
  args: args.default({}).describe("keyword arguments passed to the function"),
  command: z.array(commandWord).min(1).optional().describe(
    "kt-deno extension: an argv to run as a process instead of a function",
  ),
}).check((ctx) => {
  if (ctx.value.function !== undefined && ctx.value.command !== undefined) {
    ctx.issues.push({
      code: "custom",
      input: ctx.value,
      path: ["command"],
      message: "a task takes either function or command, not both",
    });
  }
});

/** One job of a pipeline, as written (before names are filled in and sanitized). */
export const JobSchema = z.strictObject({
  type: z.enum(["static", "dynamic"]),
  name: writtenName.optional().describe("defaults to <base>-job-<index>"),
  memory: quantity("memory", DEFAULT_MEMORY),
  cpu: quantity("cpu", DEFAULT_CPU),
  dependencies: z.array(z.string()).default([]),
  tasks: z.array(TaskSchema).max(MAX_INDEXED_JOB, {
    error: (issue) =>
      `at most ${MAX_INDEXED_JOB} tasks per job (${INDEXED_JOB_LIMIT}), found ${
        (issue.input as unknown[]).length
      }`,
  }).optional().describe("static jobs only; default []"),
  function: functionRef.optional().describe("dynamic jobs only: returns a list of jobs"),
  args: args.optional().describe("dynamic jobs only; default {}"),
  retries: z.int().min(0).max(100).optional().describe(
    "kt-deno extension: times a failed task is retried (default 0)",
  ),
  timeout: z.number().positive().max(MAX_TIMEOUT_SECONDS, {
    error: (issue) =>
      `at most ${MAX_TIMEOUT_SECONDS} seconds (about 24.8 days, the largest timer the runtime has), found ${issue.input}`,
  }).optional().describe(
    "kt-deno extension: seconds the job may run before it fails",
  ),
  parallelism: z.int().min(1).max(MAX_INDEXED_JOB, {
    error: (issue) => `at most ${MAX_INDEXED_JOB} (${INDEXED_JOB_LIMIT}), found ${issue.input}`,
  }).optional().describe(
    "kt-deno extension: most tasks of this job running at once",
  ),
  tasks_per_pod: z.int().min(1).max(MAX_INDEXED_JOB, {
    error: (issue) => `at most ${MAX_INDEXED_JOB}, found ${issue.input}`,
  }).optional().describe(
    "kt-deno extension: tasks each pod of this static job runs, through a worker pool (default 1; Kubernetes only)",
  ),
  node_selector: z.record(z.string(), labelValue).check((ctx) => {
    for (const key of Object.keys(ctx.value)) {
      if (!isLabelKey(key)) {
        ctx.issues.push({ code: "custom", input: key, path: [key], message: badLabelKey(key) });
      }
    }
  }).optional().describe(
    "kt-deno extension: node labels the job's pods must match (Kubernetes only)",
  ),
  tolerations: z.array(TolerationSchema).optional().describe(
    "kt-deno extension: taints the job's pods tolerate (Kubernetes only)",
  ),
  cache: z.boolean().optional().describe(
    "kt-deno extension: skip function tasks whose code, args and inputs are unchanged (default: kt-deno run --cache); false: always run",
  ),
}).superRefine((job, ctx) => {
  // Runs even when the job failed its own checks (`when` below): it may not be an object.
  if (job === null || typeof job !== "object") return;
  const wrong = job.type === "static"
    ? (["function", "args"] as const).filter((key) => job[key] !== undefined)
    : (["tasks", "tasks_per_pod"] as const).filter((key) => job[key] !== undefined);
  for (const key of wrong) {
    ctx.addIssue({
      code: "custom",
      path: [key],
      message: job.type === "static"
        ? `a static job takes tasks, not ${key}`
        : `a dynamic job takes function and args, not ${key}`,
    });
  }
}, { when: () => true });

/** A whole pipeline, as written. */
export const PipelineSchema = z.strictObject({
  name: writtenName,
  jobs: z.array(JobSchema).default([]),
});

/** A pipeline spec as a user writes it (in YAML, JSON or code). */
export type PipelineSpec = z.input<typeof PipelineSchema>;
/** A job spec as a user writes it. */
export type JobSpec = z.input<typeof JobSchema>;
/** A task spec as a user writes it. */
export type TaskSpec = z.input<typeof TaskSchema>;
/** A task after defaults. */
export type Task = z.output<typeof TaskSchema>;

/** A job after validation: name filled in and sanitized, defaults applied. */
export type Job = {
  name: string;
  type: "static" | "dynamic";
  memory: string;
  cpu: string;
  dependencies: string[];
  /** An array as validated; a long list may be packed (see packed_tasks.ts). */
  tasks?: TaskList;
  function?: string;
  args?: Record<string, unknown>;
  retries?: number;
  timeout?: number;
  parallelism?: number;
  /** Tasks per pod on Kubernetes (absent: 1). */
  tasks_per_pod?: number;
  node_selector?: Record<string, string>;
  tolerations?: Toleration[];
  /** Whether the job's function tasks use the cache (absent: as the run says). */
  cache?: boolean;
};

/** A pipeline after validation. */
export type Pipeline = { name: string; jobs: Job[] };

/** The JSON Schema of a pipeline spec, for editors. */
export function pipelineJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(PipelineSchema, { io: "input" }) as Record<string, unknown>;
}
