/**
 * Validation of a pipeline before anything runs: the schema, then the checks that need
 * the whole job list (names, dependencies, cycles). Every problem names its job and field.
 *
 * @module
 */
import type { z } from "zod";
import { MAX_DEPTH, nulAt, tooDeep } from "./depth.ts";
import { automaticName, isDnsLabel, sanitizeName } from "./names.ts";
import { type Job, JobSchema, type Pipeline, PipelineSchema } from "./schema.ts";
import { type Problem, SpecError, type Validated } from "./problems.ts";
export { formatProblem, type Problem, SpecError, type Validated } from "./problems.ts";

function fieldPath(path: PropertyKey[]): string {
  return path.map((key, i) =>
    typeof key === "number" ? `[${key}]` : `${i === 0 ? "" : "."}${String(key)}`
  ).join("");
}

/** A job's name as written, for messages: cut short when long, `jobs[i]` when none. */
function rawName(raw: unknown, index: number): string {
  const name = (raw as { jobs?: { name?: unknown }[] } | undefined)?.jobs?.[index]?.name;
  return typeof name === "string" && name !== "" ? shortName(name) : `jobs[${index}]`;
}

function shortName(name: string): string {
  return name.length > 80 ? `${name.slice(0, 60)}... (${name.length} characters)` : name;
}

function schemaProblems(error: z.ZodError, jobName: (index: number) => string): Problem[] {
  return error.issues.map((issue) => {
    const [first, index, ...rest] = issue.path;
    if (first === "jobs" && typeof index === "number") {
      return { job: jobName(index), field: fieldPath(rest) || undefined, message: issue.message };
    }
    return { field: fieldPath(issue.path) || undefined, message: issue.message };
  });
}

/** Own keys a plain assignment would drop (zod's records copy by assignment). */
function hasProtoKey(value: unknown): boolean {
  return value !== null && typeof value === "object" && Object.hasOwn(value, "__proto__");
}

/**
 * A job after its checks: name filled in and sanitized, defaults applied. `raw` is the job
 * as written: args keep a `__proto__` key from it, as data.
 */
function normalize(
  job: z.output<typeof JobSchema>,
  base: string,
  index: number,
  raw: unknown,
): Job {
  const out: Job = {
    name: sanitizeName(job.name ?? automaticName(base, index)),
    type: job.type,
    memory: job.memory,
    cpu: job.cpu,
    dependencies: job.dependencies.map(sanitizeName),
  };
  const written = raw as { args?: unknown; tasks?: { args?: unknown }[] };
  if (job.type === "static") {
    out.tasks = job.tasks ?? [];
    out.tasks.forEach((task, t) => {
      const args = written.tasks?.[t]?.args;
      if (hasProtoKey(args)) task.args = args as Record<string, unknown>;
    });
  } else {
    if (job.function !== undefined) out.function = job.function;
    out.args = hasProtoKey(written.args) ? written.args as Record<string, unknown> : job.args ?? {};
  }
  for (const key of ["retries", "timeout", "parallelism", "tasks_per_pod"] as const) {
    if (job[key] !== undefined) out[key] = job[key];
  }
  if (job.node_selector !== undefined) out.node_selector = job.node_selector;
  if (job.tolerations !== undefined) out.tolerations = job.tolerations;
  if (job.cache !== undefined) out.cache = job.cache;
  return out;
}

/**
 * Names the first dependency cycle among `jobs`, as `a -> b -> a`, or returns null.
 * A depth-first search with its own stack, so a chain of any length fits.
 */
export function findCycle(jobs: Pick<Job, "name" | "dependencies">[]): string[] | null {
  const deps = new Map(jobs.map((job) => [job.name, job.dependencies]));
  const state = new Map<string, "open" | "done">();
  for (const job of jobs) {
    if (state.has(job.name)) continue;
    // The path being explored, and for each job on it the next dependency to look at.
    const path = [job.name];
    const next = [0];
    state.set(job.name, "open");
    while (path.length > 0) {
      const top = path.length - 1;
      const dep = deps.get(path[top])![next[top]++];
      if (dep === undefined) {
        state.set(path.pop()!, "done");
        next.pop();
      } else if (state.get(dep) === "open") {
        return [...path.slice(path.indexOf(dep)), dep];
      } else if (!state.has(dep) && deps.has(dep)) {
        state.set(dep, "open");
        path.push(dep);
        next.push(0);
      }
    }
  }
  return null;
}

/**
 * The checks that need the whole list: valid and unique names, known dependencies, no
 * cycles. `existing` holds the names already in the run (for a dynamic job's output).
 */
function checkJobs(
  jobs: Job[],
  labels: string[],
  existing: Pick<ReadonlySet<string>, "has">,
): Problem[] {
  const problems: Problem[] = [];
  const seen = new Map<string, string>();
  jobs.forEach((job, i) => {
    if (!isDnsLabel(job.name)) {
      problems.push({
        job: labels[i],
        field: "name",
        message: `becomes ${
          JSON.stringify(job.name)
        } after sanitizing, which is not a valid Kubernetes name (lower-case letters, digits and '-', starting and ending with a letter or digit)`,
      });
    }
    if (existing.has(job.name)) {
      problems.push({
        job: labels[i],
        field: "name",
        message: `Duplicate job name ${
          JSON.stringify(job.name)
        }: a job of that name is already in the run`,
      });
    } else if (seen.has(job.name)) {
      problems.push({
        job: labels[i],
        field: "name",
        message: `Duplicate job name ${JSON.stringify(job.name)} (after sanitizing; also ${
          seen.get(job.name)
        })`,
      });
    } else seen.set(job.name, labels[i]);
  });
  jobs.forEach((job, i) => {
    for (const dep of job.dependencies) {
      if (!seen.has(dep) && !existing.has(dep)) {
        problems.push({
          job: labels[i],
          field: "dependencies",
          message: `unknown job ${JSON.stringify(dep)}`,
        });
      }
    }
  });
  const cycle = findCycle(jobs);
  if (cycle) {
    problems.push({
      job: cycle[0],
      field: "dependencies",
      message: `dependency cycle: ${cycle.join(" -> ")}`,
    });
  }
  return problems;
}

/** A short description of a value's type, for messages: `null`, `a list`, `a string`. */
function typeName(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  return `a ${typeof value}`;
}

/**
 * What the schema cannot be trusted with: entries of the job list that are not objects
 * (a YAML `-` with nothing after it is `null`) and args nested deeper than
 * {@linkcode MAX_DEPTH}. `entry(i)` names an entry that is not a job.
 */
function shapeProblems(jobs: unknown, entry: (i: number) => string): Problem[] {
  if (!Array.isArray(jobs)) return [];
  const problems: Problem[] = [];
  jobs.forEach((job: unknown, i) => {
    if (job === null || typeof job !== "object" || Array.isArray(job)) {
      problems.push({
        message: `${entry(i)} is ${
          typeName(job)
        }, expected a job (a mapping with type: static or dynamic)`,
      });
      return;
    }
    const { args, tasks, name } = job as { args?: unknown; tasks?: unknown; name?: unknown };
    // Names are made only for a problem: a returned list may hold 10,000 jobs, all fine.
    const label = () => typeof name === "string" && name !== "" ? shortName(name) : `jobs[${i}]`;
    const check = (value: unknown, field: () => string) => {
      if (tooDeep(value) !== null) {
        problems.push({
          job: label(),
          field: field(),
          message: `nested deeper than ${MAX_DEPTH} levels of lists and objects (or circular)`,
        });
        return;
      }
      if (nulAt(value) !== null) {
        problems.push({
          job: label(),
          field: nulAt(value, field())!,
          message: "holds a NUL character, which no process argument or environment can",
        });
      }
    };
    check(args, () => "args");
    if (Array.isArray(tasks)) {
      tasks.forEach((task: unknown, t) => {
        check((task as { args?: unknown } | null)?.args, () => `tasks[${t}].args`);
      });
    }
  });
  return problems;
}

/**
 * Validates a pipeline spec (already parsed from YAML or JSON) and normalizes it.
 *
 * @example
 * ```ts
 * import { validatePipeline } from "./validate.ts";
 * const result = validatePipeline({ name: "p", jobs: [{ type: "static" }] });
 * if (result.ok) result.value.jobs[0].name; // "pipeline-p-job-0"
 * ```
 */
export function validatePipeline(raw: unknown): Validated<Pipeline> {
  const shape = shapeProblems(
    (raw as { jobs?: unknown } | null)?.jobs,
    (i) => `jobs[${i}]`,
  );
  if (shape.length) return { ok: false, problems: shape };
  const parsed = PipelineSchema.safeParse(raw);
  if (!parsed.success) {
    return { ok: false, problems: schemaProblems(parsed.error, (i) => rawName(raw, i)) };
  }
  const base = `pipeline-${parsed.data.name}`;
  const written = (raw as { jobs: unknown[] }).jobs ?? [];
  const jobs = parsed.data.jobs.map((job, i) => normalize(job, base, i, written[i]));
  const labels = parsed.data.jobs.map((job, i) => job.name ?? jobs[i].name);
  const problems = checkJobs(jobs, labels, new Set());
  return problems.length
    ? { ok: false, problems }
    : { ok: true, value: { name: parsed.data.name, jobs } };
}

/** Validates a parsed spec; throws {@linkcode SpecError} naming `source`. */
export function checkSpec(raw: unknown, source: string): Pipeline {
  const result = validatePipeline(raw);
  if (!result.ok) throw new SpecError(result.problems, `invalid pipeline spec ${source}`);
  return result.value;
}

/**
 * Validates the job list a dynamic job returned: the same rules as a spec, names based on
 * the parent's name, dependencies may name jobs already in the run.
 */
export function validateDescendants(
  raw: unknown,
  parent: string,
  existing: Pick<ReadonlySet<string>, "has">,
): Validated<Job[]> {
  if (!Array.isArray(raw)) {
    return {
      ok: false,
      problems: [{ message: `returned ${typeName(raw)}, expected a list of jobs` }],
    };
  }
  const shape = shapeProblems(raw, (i) => `returned job ${i + 1}`);
  if (shape.length) return { ok: false, problems: shape };
  const parsed = JobSchema.array().safeParse(raw);
  if (!parsed.success) {
    const wrapped = schemaProblems(
      {
        issues: parsed.error.issues.map((i) => ({ ...i, path: ["jobs", ...i.path] })),
      } as z.ZodError,
      (i) => rawName({ jobs: raw }, i),
    );
    return { ok: false, problems: wrapped };
  }
  const jobs = parsed.data.map((job, i) => normalize(job, parent, i, raw[i]));
  const labels = parsed.data.map((job, i) => job.name ?? jobs[i].name);
  const problems = checkJobs(jobs, labels, existing);
  return problems.length ? { ok: false, problems } : { ok: true, value: jobs };
}
