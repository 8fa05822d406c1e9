/**
 * Problems found in a spec, and the error that carries them. Kept apart from the schema so
 * that code which only reports problems does not load zod.
 *
 * @module
 */

/** One thing wrong with a spec. */
export interface Problem {
  /** The job's name (or `jobs[i]` when it has none yet). */
  job?: string;
  /** The field, as a path inside the job (`tasks[2].function`). */
  field?: string;
  message: string;
}

/** The outcome of validation: the normalized value, or every problem found. */
export type Validated<T> = { ok: true; value: T } | { ok: false; problems: Problem[] };

/** The longest a name or message is printed (a 100,000-character key stays readable). */
const SHOWN = 500;

function short(text: string): string {
  return text.length <= SHOWN ? text : `${text.slice(0, SHOWN)}… (${text.length} characters)`;
}

/** Formats a problem as one line: `job "b", field dependencies: unknown job "x"`. */
export function formatProblem(problem: Problem): string {
  const where = [
    problem.job !== undefined ? `job ${short(JSON.stringify(problem.job))}` : "",
    problem.field ? `field ${short(problem.field)}` : "",
  ].filter(Boolean).join(", ");
  return where ? `${where}: ${short(problem.message)}` : short(problem.message);
}

/** Raised where a spec cannot be used; carries every problem. */
export class SpecError extends Error {
  constructor(readonly problems: Problem[], context = "invalid pipeline spec") {
    super(`${context}:\n${problems.map((p) => `  - ${formatProblem(p)}`).join("\n")}`);
    this.name = "SpecError";
  }
}
