/**
 * Kubernetes resource quantities ("1.5Gi", "500m", "2", "1e3"), parsed exactly as the
 * API server's grammar allows.
 *
 * @module
 */

const SUFFIXES: Record<string, number> = {
  "": 1,
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

const QUANTITY =
  /^([+-]?)(\d+(?:\.\d*)?|\.\d+)(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?)$/;

/**
 * Parses a quantity into its value in base units (bytes, or cores), or `null` when the
 * text is not a quantity.
 *
 * @example
 * ```ts
 * import { parseQuantity } from "./quantity.ts";
 * parseQuantity("1.5Gi"); // 1610612736
 * parseQuantity("500m"); // 0.5
 * parseQuantity("1e3"); // 1000
 * parseQuantity("16 GB"); // null
 * ```
 */
export function parseQuantity(text: string): number | null {
  const match = QUANTITY.exec(text);
  if (!match) return null;
  const [, sign, digits, exponent, suffix = ""] = match;
  const value = Number(digits) * (exponent ? 10 ** Number(exponent.slice(1)) : SUFFIXES[suffix]);
  return sign === "-" ? -value : value;
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
