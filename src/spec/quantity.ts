/**
 * Kubernetes resource quantities ("1.5Gi", "500m", "2", "1e3"), parsed exactly as the
 * API server's grammar allows, and rounded as it rounds: up to a whole byte, or a whole
 * millicore.
 *
 * @module
 */

/** A job's memory when its spec gives none (kube-transform's default). */
export const DEFAULT_MEMORY = "1Gi";

/** A job's cpu when its spec gives none (kube-transform's default). */
export const DEFAULT_CPU = "500m";

/** Each suffix as a power of ten or of two. */
const SUFFIXES: Record<string, { ten: number } | { two: number }> = {
  "": { ten: 0 },
  n: { ten: -9 },
  u: { ten: -6 },
  m: { ten: -3 },
  k: { ten: 3 },
  M: { ten: 6 },
  G: { ten: 9 },
  T: { ten: 12 },
  P: { ten: 15 },
  E: { ten: 18 },
  Ki: { two: 10 },
  Mi: { two: 20 },
  Gi: { two: 30 },
  Ti: { two: 40 },
  Pi: { two: 50 },
  Ei: { two: 60 },
};

const QUANTITY =
  /^([+-]?)(\d+(?:\.\d*)?|\.\d+)(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?)$/;

/** Past this power of ten a quantity is no number kt-deno can use (nor any machine). */
const MAX_POWER = 80;

/**
 * A quantity's value times `10 ** scale`, rounded up to a whole number away from zero, as
 * Kubernetes rounds (`Quantity.Value()` for scale 0, `MilliValue()` for 3), computed
 * exactly (no binary fraction creeps in: "1.15G" is 1150000000), or `null` when the text
 * is not a quantity. Values too large for a JavaScript number are `Infinity`.
 */
function roundedValue(text: string, scale: number): number | null {
  const key = `${scale} ${text}`;
  let value = known.get(key);
  if (value === undefined) {
    value = computeRoundedValue(text, scale);
    // Most jobs of a run give the same few quantities (their defaults, at least).
    if (known.size < 1024) known.set(key, value);
  }
  return value;
}

/** Quantities parsed so far: each job's memory and cpu are checked, 10,000 jobs' too. */
const known = new Map<string, number | null>();

function computeRoundedValue(text: string, scale: number): number | null {
  const match = QUANTITY.exec(text);
  if (!match) return null;
  const [, sign, number, exponent, suffix = ""] = match;
  const [whole, fraction = ""] = number.split(".");
  const mantissa = BigInt((whole + fraction).replace(/^0+(?=\d)/, "") || "0");
  const unit = exponent ? { ten: Number(exponent.slice(1)) } : SUFFIXES[suffix];
  const ten = ("ten" in unit ? unit.ten : 0) + scale - fraction.length;
  const two = "two" in unit ? BigInt(unit.two) : 0n;
  let value: bigint;
  if (mantissa === 0n) value = 0n;
  else if (ten > MAX_POWER) return sign === "-" ? -Infinity : Infinity;
  else if (ten < -MAX_POWER - String(mantissa).length) value = 1n;
  else if (ten >= 0) value = (mantissa << two) * 10n ** BigInt(ten);
  else {
    const numerator = mantissa << two;
    const denominator = 10n ** BigInt(-ten);
    value = (numerator + denominator - 1n) / denominator;
  }
  const result = Number(value);
  return sign === "-" ? -result : result;
}

/**
 * Parses a quantity into its value in base units (bytes, or cores), rounded up to a whole
 * number as Kubernetes rounds a quantity's value (`1.1Gi` and `1m` of memory are
 * 1181116007 bytes and 1 byte), or `null` when the text is not a quantity. For cores, use
 * {@linkcode parseMilliQuantity}.
 *
 * @example
 * ```ts
 * import { parseQuantity } from "./quantity.ts";
 * parseQuantity("1.5Gi"); // 1610612736
 * parseQuantity("1.1Gi"); // 1181116007
 * parseQuantity("1m"); // 1
 * parseQuantity("1e3"); // 1000
 * parseQuantity("16 GB"); // null
 * ```
 */
export function parseQuantity(text: string): number | null {
  return roundedValue(text, 0);
}

/**
 * Parses a quantity into thousandths of its unit (millicores, for `cpu`), rounded up to a
 * whole number as Kubernetes rounds (`MilliValue()`), or `null` when it is not a quantity.
 *
 * @example
 * ```ts
 * import { parseMilliQuantity } from "./quantity.ts";
 * parseMilliQuantity("500m"); // 500
 * parseMilliQuantity("1.5"); // 1500
 * parseMilliQuantity("0.1m"); // 1
 * ```
 */
export function parseMilliQuantity(text: string): number | null {
  return roundedValue(text, 3);
}

/**
 * A memory quantity scaled by a factor, as a whole number of bytes (the unit Kubernetes
 * always accepts). kube-transform kept only the digits ("1.5Gi" × 1.1 became "16Gi");
 * this computes the value.
 *
 * @example
 * ```ts
 * import { scaleMemory } from "./quantity.ts";
 * scaleMemory("1.5Gi", 1.1); // "1771674010"
 * ```
 */
export function scaleMemory(quantity: string, factor: number): string {
  const value = parseQuantity(quantity);
  if (value === null) throw new Error(`not a Kubernetes quantity: ${JSON.stringify(quantity)}`);
  return String(Math.ceil(value * factor));
}
