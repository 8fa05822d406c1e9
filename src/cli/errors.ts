/**
 * The error for bad command-line input: the CLI prints it and exits with code 2.
 *
 * @module
 */

/** Bad usage: a wrong flag value, a missing file. Exit code 2, nothing done. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** Parses a positive integer flag value, or throws a {@linkcode UsageError}. */
export function positiveInt(flag: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) {
      throw new UsageError(`${flag} must be a positive integer, got ${JSON.stringify(value)}`);
    }
    return n;
  };
}
