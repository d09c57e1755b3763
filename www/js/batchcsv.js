// The Batch panel's CSV: one transfer a line, `from,to,amount,memo` (the memo optional), read into the items of
// POST /api/batches. Pure: no page, no network. A line that cannot be read says why, so the panel can mark it
// before anything is sent.

import { JSONText } from "./api.js";
import { centsToText, parseAmount } from "./money.js";

/** The most items one batch takes (POST /api/batches). */
export const BATCH_LIMIT = 1000;

/** The longest memo, in Unicode code points (as the API counts them). */
const MEMO_LIMIT = 500;

const USER_ID = /^[1-9]\d{0,18}$/;
const HEADER = ["from", "to", "amount", "memo"];

/**
 * The fields of one CSV line (RFC 4180 quoting on a single line: "a, b" holds a comma, "" is a quote). Spaces
 * around a field are dropped; inside quotes everything is kept. Returns {fields} or {error}.
 */
export function splitCSVLine(text) {
  const fields = [];
  let i = 0;
  for (;;) {
    while (text[i] === " " || text[i] === "\t") i += 1;
    if (text[i] === '"') {
      let value = "";
      i += 1;
      for (;;) {
        if (i >= text.length) return { error: "A quote is not closed: a quoted field ends with \"." };
        if (text[i] === '"') {
          if (text[i + 1] === '"') { value += '"'; i += 2; continue; }
          i += 1;
          break;
        }
        value += text[i];
        i += 1;
      }
      while (text[i] === " " || text[i] === "\t") i += 1;
      if (i < text.length && text[i] !== ",") {
        return { error: "Text after a closing quote: a quoted field must end at a comma." };
      }
      fields.push(value);
    } else {
      const end = text.indexOf(",", i);
      const raw = end === -1 ? text.slice(i) : text.slice(i, end);
      if (raw.includes('"')) return { error: "A quote inside an unquoted field: quote the whole field, \"\" for a quote." };
      fields.push(raw.trim());
      i = end === -1 ? text.length : end;
    }
    if (i >= text.length) return { fields };
    i += 1; // the comma
    if (i >= text.length) { fields.push(""); return { fields }; }
  }
}

function isHeader(fields) {
  const names = fields.map((f) => f.trim().toLowerCase());
  return (names.length === 3 || names.length === 4) && names.every((name, i) => name === HEADER[i]);
}

/** One line's item, or why it cannot be one. */
function readLine(fields) {
  if (fields.length < 3) {
    return { error: `Expected from,to,amount and an optional memo; this line has ${fields.length} field${fields.length === 1 ? "" : "s"}.` };
  }
  if (fields.length > 4) {
    return { error: `${fields.length} fields, at most 4: put a memo with commas in quotes ("rent, May").` };
  }
  const [fromText, toText, amountText, memo = ""] = fields;
  const from = fromText.replace(/^#/, "");
  const to = toText.replace(/^#/, "");
  if (!USER_ID.test(from)) return { error: "The sender (from) must be a user id: a positive whole number." };
  if (!USER_ID.test(to)) return { error: "The receiver (to) must be a user id: a positive whole number." };
  const cents = parseAmount(amountText);
  if (cents === null || cents === 0n) {
    return { error: "The amount must be more than zero with at most two decimals, such as 12.50." };
  }
  if ([...memo].length > MEMO_LIMIT) return { error: `The memo is longer than ${MEMO_LIMIT} characters.` };
  if (memo.includes("\u0000")) return { error: "The memo contains a NUL character." };
  return { from, to, amount: centsToText(cents), memo: memo === "" ? null : memo };
}

/**
 * Reads pasted CSV. Returns {rows, header}: one row per non-blank line, {line (1-based, as in the pasted text),
 * from, to, amount, memo} or {line, text, error}; `header` is the line number of a skipped header line, or null.
 */
export function parseBatchCSV(text) {
  const rows = [];
  let header = null;
  const lines = text.split(/\r\n|\n|\r/);
  for (let n = 0; n < lines.length; n += 1) {
    const source = lines[n];
    if (source.trim() === "") continue;
    const split = splitCSVLine(source);
    if (rows.length === 0 && header === null && split.fields && isHeader(split.fields)) {
      header = n + 1;
      continue;
    }
    const item = split.error ? { error: split.error } : readLine(split.fields);
    rows.push({ line: n + 1, text: source, ...item });
  }
  return { rows, header };
}

/**
 * The JSON body of POST /api/batches for rows that all read well. Ids go in as exact JSON integers (a pasted id
 * may be beyond what a JavaScript number holds exactly).
 */
export function batchBody(rows, atomic) {
  const items = rows.map((row) => {
    const memo = row.memo === null ? "" : `,"memo":${JSON.stringify(row.memo)}`;
    return `{"type":"transfer","from_user_id":${row.from},"to_user_id":${row.to},"amount":"${row.amount}"${memo}}`;
  });
  return new JSONText(`{"atomic":${atomic ? "true" : "false"},"movements":[${items.join(",")}]}`);
}
