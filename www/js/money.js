// Money on the page. Amounts are exact: the API sends them as text ("1234.50") and in integer cents; here they
// are handled as text and BigInt cents, never as binary floats.

const AMOUNT_INPUT = /^(\d+)(?:\.(\d{1,2}))?$/;

/** Cents (a BigInt) of what a person typed ("1,234.5" -> 123450n), or null when it is not an amount. */
export function parseAmount(text) {
  const cleaned = String(text).trim().replace(/[,\s\u00a0\u202f_']/g, "");
  const match = AMOUNT_INPUT.exec(cleaned);
  if (!match) return null;
  return BigInt(match[1]) * 100n + BigInt((match[2] || "").padEnd(2, "0") || "0");
}

/** The API's text for cents ("123450n" -> "1234.50"), as the requests send it. */
export function centsToText(cents) {
  const value = BigInt(cents);
  const sign = value < 0n ? "-" : "";
  const absolute = value < 0n ? -value : value;
  return `${sign}${absolute / 100n}.${String(absolute % 100n).padStart(2, "0")}`;
}

/** An amount for people: two decimals and thousands separators ("1234567.8" or 123456780n -> "1,234,567.80"). */
export function formatMoney(amount) {
  const text = typeof amount === "bigint" ? centsToText(amount) : String(amount);
  const match = /^(-?)(\d+)(?:\.(\d+))?$/.exec(text);
  if (!match) return text;
  const [, sign, whole, fraction = ""] = match;
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return `${sign}${grouped}.${fraction.padEnd(2, "0").slice(0, 2)}`;
}
