/**
 * Reading a run's state document back, for the commands that show or continue a run: a
 * document that is not JSON, or not a state document (overwritten by hand, cut short by
 * a full disk), is a {@linkcode CorruptRecordError} naming the file, never a bare
 * `Unexpected token`.
 *
 * @module
 */
import type { StateDocument } from "../engine/state.ts";
import { DataFs } from "../storage/data_fs.ts";
import { NotFoundError } from "../storage/driver.ts";
import { openStorage } from "../storage/open.ts";
import { statePath } from "./layout.ts";
import { isRunId } from "./run_id.ts";

/** A record of a run that cannot be read as what it should be; names the file. */
export class CorruptRecordError extends Error {
  constructor(readonly file: string, readonly reason: string, detail?: string) {
    const more = detail ? ` (${detail.replace(/\s+/g, " ").slice(0, 100)})` : "";
    super(`${file} cannot be read: ${reason}${more}; was it overwritten?`);
    this.name = "CorruptRecordError";
  }
}

/** Why a parsed value is not a state document, or undefined when it is one. */
function notAState(value: unknown): string | undefined {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return "not a kt-deno state document (expected a JSON object)";
  }
  const doc = value as Record<string, unknown>;
  for (const key of ["pipeline_run_id", "pipeline_name", "status", "created_at"]) {
    if (typeof doc[key] !== "string") return `not a kt-deno state document (no ${key})`;
  }
  if (doc.jobs === null || typeof doc.jobs !== "object" || Array.isArray(doc.jobs)) {
    return "not a kt-deno state document (no jobs)";
  }
  return undefined;
}

/**
 * A run's state document. Throws the storage's `NotFoundError` when there is none, and a
 * {@linkcode CorruptRecordError} when it is not one.
 *
 * @example
 * ```ts ignore
 * const doc = await readStateDocument(fs, "ktpr0123abcd");
 * doc.status; // "Completed"
 * ```
 */
export async function readStateDocument(fs: DataFs, runId: string): Promise<StateDocument> {
  const path = statePath(runId);
  const where = `${fs.root.replace(/\/+$/, "")}/${path}`;
  const text = await fs.read(path);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new CorruptRecordError(where, "not JSON", (error as Error).message);
  }
  const why = notAState(value);
  if (why) throw new CorruptRecordError(where, why);
  return value as StateDocument;
}

/** A run id that is not one, or that names no run of the data dir (a usage error). */
export class UnknownRunError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UnknownRunError";
  }
}

/** Throws {@linkcode UnknownRunError} when `runId` is not of the run-id form. */
export function checkRunId(runId: string): void {
  if (!isRunId(runId)) {
    throw new UnknownRunError(
      `not a run id: ${JSON.stringify(runId)} (expected ktpr + 8 hex characters)`,
    );
  }
}

/**
 * The state document of run `runId` in a data dir. Throws {@linkcode UnknownRunError}
 * when `runId` is not a run id or the data dir has no such run.
 */
export async function readRunState(dataDir: string, runId: string): Promise<StateDocument> {
  checkRunId(runId);
  try {
    return await readStateDocument(new DataFs(openStorage(dataDir)), runId);
  } catch (error) {
    if (error instanceof NotFoundError) {
      throw new UnknownRunError(`no run ${runId} in data dir ${dataDir}`);
    }
    throw error;
  }
}
