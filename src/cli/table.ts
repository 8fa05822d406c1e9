/**
 * Text tables, as the commands that list things (`list`, `prune`, `schedule list`) print
 * them.
 *
 * @module
 */

/** Rows of cells as a text table: columns padded to their widest cell, two spaces apart. */
export function formatTable(rows: string[][]): string {
  const widths = rows[0].map((_, c) =>
    rows.reduce((most, row) => Math.max(most, row[c].length), 0)
  );
  return rows.map((row) => row.map((cell, c) => cell.padEnd(widths[c])).join("  ").trimEnd())
    .join("\n");
}
