/**
 * The state document as bytes. A large run's document is mostly its task lists; packed
 * ones (see packed_tasks.ts) are already JSON text, so a write serializes only the rest
 * (statuses, times) and puts their text in between. The output is what `JSON.stringify`
 * of the whole document gives.
 *
 * @module
 */
import type { StateDocument } from "../engine/state.ts";
import { PackedTasks } from "../spec/packed_tasks.ts";

/** A document up to this size is indented for people to read; a larger one is compact. */
export const INDENT_UP_TO = 1 << 20;

const encoder = new TextEncoder();

/**
 * The document as UTF-8 JSON with a final newline.
 *
 * @example
 * ```ts
 * import { encodeState } from "./state_json.ts";
 * const doc = {
 *   pipeline_run_id: "ktpr0123abcd",
 *   pipeline_name: "p",
 *   status: "Running" as const,
 *   created_at: "2026-01-01T00:00:00.000Z",
 *   updated_at: "2026-01-01T00:00:00.000Z",
 *   jobs: {},
 * };
 * JSON.parse(new TextDecoder().decode(encodeState(doc))).pipeline_name; // "p"
 * ```
 */
export function encodeState(doc: Readonly<StateDocument>): Uint8Array {
  const lists: Uint8Array[] = [];
  // Stands for a packed list in the document's text; no document holds it by chance.
  const mark = `kt-tasks:${crypto.randomUUID()}:`;
  const skeleton = PackedTasks.stringifyMarked(doc, (tasks) => {
    lists.push(tasks.json);
    return `${mark}${lists.length - 1}`;
  });
  const size = skeleton.length + lists.reduce((sum, json) => sum + json.length, 0);
  if (size <= INDENT_UP_TO) return encoder.encode(JSON.stringify(doc, null, 2) + "\n");
  if (lists.length === 0) return encoder.encode(skeleton + "\n");
  const pieces = skeleton.split(new RegExp(`"${mark}\\d+"`)).map((piece) => encoder.encode(piece));
  const parts = pieces.flatMap((piece, i) => i < lists.length ? [piece, lists[i]] : [piece]);
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0) + 1);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  out[at] = 0x0a;
  return out;
}
