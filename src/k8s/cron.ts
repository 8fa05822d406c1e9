/**
 * What a schedule is checked against before anything is created: its name, its cron
 * expression (the five fields, or a macro, that a Kubernetes CronJob takes) and its time
 * zone; and when it fires next. Pure: the CLI turns a problem into exit 2.
 *
 * @module
 */
import { CronExpressionParser } from "cron-parser";
import { isDnsLabel } from "../spec/names.ts";
import { MAX_SCHEDULE_NAME } from "./names.ts";

const MACROS = ["@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"];
const NAMES = /JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC|SUN|MON|TUE|WED|THU|FRI|SAT/gi;

/**
 * What is wrong with a cron expression, or null for one a CronJob takes: five fields of
 * numbers, names, `*`, `?`, `,`, `-` and `/` (no seconds, no `L`, `W`, `#` or `H`), or a
 * macro such as `@daily`. The time zone goes in `--timezone`, not in the expression.
 *
 * @example
 * ```ts
 * import { cronProblem } from "./cron.ts";
 * cronProblem("0 2 * * MON-FRI"); // null
 * cronProblem("61 * * * *"); // "... minute 61 ..."
 * ```
 */
export function cronProblem(expression: string): string | null {
  const text = expression.trim();
  const what = `--cron ${JSON.stringify(expression)} is not a cron expression`;
  if (MACROS.includes(text)) return null;
  const fields = text.split(/\s+/);
  if (fields.length !== 5 || text === "") {
    return `${what}: expected 5 fields (minute hour day-of-month month day-of-week) or a macro ` +
      `such as @daily, got ${text === "" ? 0 : fields.length}`;
  }
  const odd = fields.find((field) => !/^[0-9*?,\-\/]+$/.test(field.replace(NAMES, "0")));
  if (odd !== undefined) {
    return `${what}: field ${JSON.stringify(odd)} has characters a CronJob does not take`;
  }
  try {
    CronExpressionParser.parse(text, { strict: false });
  } catch (error) {
    return `${what}: ${(error as Error).message}`;
  }
  return null;
}

/**
 * What is wrong with a time zone, or null for an IANA zone name such as `Europe/Berlin`.
 *
 * @example
 * ```ts
 * import { timezoneProblem } from "./cron.ts";
 * timezoneProblem("Europe/Berlin"); // null
 * timezoneProblem("Mars/Olympus"); // "--timezone \"Mars/Olympus\" is not a time zone ..."
 * ```
 */
export function timezoneProblem(zone: string): string | null {
  const what = `--timezone ${
    JSON.stringify(zone)
  } is not a time zone (expected an IANA name such as Europe/Berlin)`;
  if (!/^[A-Za-z][A-Za-z0-9_+\-\/]*$/.test(zone)) return what;
  try {
    new Intl.DateTimeFormat("en", { timeZone: zone });
    return null;
  } catch {
    return what;
  }
}

/** What is wrong with a schedule name, or null for a DNS label of at most 36 characters. */
export function scheduleNameProblem(name: string): string | null {
  if (isDnsLabel(name) && name.length <= MAX_SCHEDULE_NAME) return null;
  return `schedule name ${JSON.stringify(name)} is not valid: expected lower-case letters, ` +
    `digits and '-', starting and ending with a letter or digit, at most ${MAX_SCHEDULE_NAME} characters`;
}

/**
 * When a valid cron expression fires next after `now`, in `zone` (default UTC, as a
 * CronJob without a time zone counts in the controller manager's, UTC as a rule).
 *
 * @example
 * ```ts
 * import { nextFiring } from "./cron.ts";
 * nextFiring("0 2 * * *", "UTC", new Date("2030-01-01T03:00:00Z")).toISOString();
 * // "2030-01-02T02:00:00.000Z"
 * ```
 */
export function nextFiring(expression: string, zone: string | undefined, now = new Date()): Date {
  return CronExpressionParser.parse(expression.trim(), { tz: zone ?? "UTC", currentDate: now })
    .next().toDate();
}
