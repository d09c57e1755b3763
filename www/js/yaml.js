// A small YAML reader for the API reference page: enough of YAML 1.1 for www/openapi.yaml (block mappings and
// sequences, flow collections over several lines, plain, quoted, literal `|` and folded `>` scalars, comments).
// The browser tests check that it reads openapi.yaml exactly as PyYAML does.

export class YAMLError extends Error {}

/** Parses YAML text into plain objects, arrays, strings, numbers, booleans and null. */
export function parseYAML(text) {
  const lines = text.replace(/\r\n?/g, "\n").split("\n").map((raw, number) => ({
    number: number + 1,
    raw,
    indent: raw.length - raw.trimStart().length,
    text: raw.trim(),
  }));
  const reader = new Reader(lines);
  reader.skipBlank();
  if (reader.done()) return null;
  if (reader.peek().text === "---") reader.next();
  reader.skipBlank();
  return reader.block(reader.peek().indent);
}

const isBlank = (line) => line.text === "" || line.text.startsWith("#");

class Reader {
  constructor(lines) {
    this.lines = lines;
    this.index = 0;
  }

  done() { return this.index >= this.lines.length; }
  peek() { return this.lines[this.index]; }
  next() { return this.lines[this.index++]; }
  skipBlank() { while (!this.done() && isBlank(this.peek())) this.index++; }
  fail(message, line = this.peek()) { throw new YAMLError(`line ${line ? line.number : "end"}: ${message}`); }

  /** A mapping or a sequence whose lines start at `indent`. */
  block(indent) {
    this.skipBlank();
    const line = this.peek();
    if (isSequenceItem(line.text)) return this.sequence(indent);
    return this.mapping(indent);
  }

  mapping(indent) {
    const result = {};
    for (;;) {
      this.skipBlank();
      if (this.done()) break;
      const line = this.peek();
      if (line.indent < indent) break;
      if (line.indent > indent) this.fail("unexpected indentation");
      if (isSequenceItem(line.text)) break;
      this.next();
      const { key, rest } = splitKey(line.text, () => this.fail("expected `key: value`", line));
      result[key] = this.value(rest, indent, line);
    }
    return result;
  }

  sequence(indent) {
    const result = [];
    for (;;) {
      this.skipBlank();
      if (this.done()) break;
      const line = this.peek();
      if (line.indent !== indent || !isSequenceItem(line.text)) break;
      const content = line.text === "-" ? "" : line.text.slice(2);
      const contentIndent = indent + (line.text.length - line.text.slice(1).trimStart().length);
      if (content.trim() === "") {
        this.next();
        result.push(this.nested(indent));
      } else if (!/^["'[{]/.test(content) && findKeyColon(content) >= 0) {
        // "- key: value": a mapping whose first key sits on the dash's line.
        this.lines[this.index] = { ...line, indent: contentIndent, text: content.trim() };
        result.push(this.mapping(contentIndent));
      } else {
        this.next();
        result.push(this.value(content.trim(), indent, line, true));
      }
    }
    return result;
  }

  /** The value after "key:" (or "- ") on `line`, whose own block sits at `indent`. */
  value(rest, indent, line, inSequence = false) {
    if (rest === "" || rest.startsWith("#")) return this.nested(indent, inSequence);
    if (/^[|>][-+]?\d*\s*(#.*)?$/.test(rest)) return this.blockScalar(rest, indent);
    if (rest.startsWith("[") || rest.startsWith("{")) return this.flow(rest, line);
    if (rest.startsWith("'") || rest.startsWith('"')) {
      let text = rest;
      // A quoted scalar may go on over the next lines.
      while (!quotedComplete(text) && !this.done()) text += " " + this.next().text;
      const scanner = new FlowScanner(text, line);
      const value = scanner.quoted();
      scanner.skipSpace();
      if (!scanner.atEnd() && scanner.peek() !== "#") this.fail("text after a quoted scalar", line);
      return value;
    }
    // A plain scalar, perhaps continued on more-indented lines (folded with spaces).
    let text = stripComment(rest);
    while (!this.done()) {
      const following = this.peek();
      if (following.text === "" || following.indent <= indent || following.text.startsWith("#")) break;
      text += " " + stripComment(following.text);
      this.next();
    }
    return resolvePlain(text);
  }

  /** What an empty "key:" holds: a deeper block, a sequence at the same indent, or null. */
  nested(indent, inSequence = false) {
    this.skipBlank();
    if (this.done()) return null;
    const line = this.peek();
    if (line.indent > indent) return this.block(line.indent);
    if (!inSequence && line.indent === indent && isSequenceItem(line.text)) return this.sequence(indent);
    return null;
  }

  blockScalar(header, indent) {
    const literal = header[0] === "|";
    const chomp = /-/.test(header) ? "strip" : /\+/.test(header) ? "keep" : "clip";
    const explicit = /\d/.exec(header);
    const body = [];
    let blockIndent = explicit ? indent + Number(explicit[0]) : null;
    while (!this.done()) {
      const line = this.peek();
      if (line.text === "") {
        body.push("");
        this.next();
        continue;
      }
      if (blockIndent === null) blockIndent = line.indent;
      if (line.indent < blockIndent || line.indent <= indent) break;
      body.push(line.raw.slice(blockIndent));
      this.next();
    }
    // Trailing empty lines belong to the chomping, not the content.
    let trailing = 0;
    while (body.length && body[body.length - 1] === "") {
      body.pop();
      trailing++;
    }
    let text;
    if (literal) {
      text = body.join("\n");
    } else {
      text = "";
      body.forEach((part, i) => {
        if (i === 0) { text = part; return; }
        const previous = body[i - 1];
        const moreIndented = /^\s/.test(part) || /^\s/.test(previous);
        if (part === "") text += "\n";
        else if (previous === "" || moreIndented) text += (previous === "" && !moreIndented ? "" : "\n") + part;
        else text += " " + part;
      });
    }
    if (body.length === 0) return chomp === "keep" ? "\n".repeat(trailing) : "";
    if (chomp === "strip") return text;
    if (chomp === "keep") return text + "\n" + "\n".repeat(trailing);
    return text + "\n";
  }

  /** A flow collection, read on as many lines as its brackets take. */
  flow(rest, line) {
    let text = rest;
    while (!flowComplete(text)) {
      if (this.done()) this.fail("unclosed [ or {", line);
      text += " " + this.next().text;
    }
    const scanner = new FlowScanner(text, line);
    const value = scanner.value();
    scanner.skipSpace();
    if (!scanner.atEnd() && scanner.peek() !== "#") this.fail("text after a flow collection", line);
    return value;
  }
}

function isSequenceItem(text) { return text === "-" || text.startsWith("- "); }

/** The position of the colon that ends a plain key ("key: value" or "key:"), or -1. */
function findKeyColon(text) {
  for (let i = 0; i < text.length; i++) {
    if (text[i] === ":" && (i === text.length - 1 || text[i + 1] === " ")) return i;
    if (text[i] === " " && text[i + 1] === "#") return -1;
  }
  return -1;
}

function splitKey(text, fail) {
  if (text.startsWith("'") || text.startsWith('"')) {
    const scanner = new FlowScanner(text, null);
    const key = scanner.quoted();
    scanner.skipSpace();
    if (scanner.peek() !== ":") fail();
    return { key, rest: text.slice(scanner.position + 1).trim() };
  }
  const colon = findKeyColon(text);
  if (colon < 0) fail();
  return { key: text.slice(0, colon).trim(), rest: text.slice(colon + 1).trim() };
}

function stripComment(text) {
  const hash = text.search(/\s#/);
  return (hash >= 0 ? text.slice(0, hash) : text).trim();
}

function quotedComplete(text) {
  try {
    new FlowScanner(text, null).quoted();
    return true;
  } catch (error) {
    return false;
  }
}

function flowComplete(text) {
  let depth = 0;
  let quote = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (quote === '"' && c === "\\") i++;
      else if (c === quote) {
        if (quote === "'" && text[i + 1] === "'") i++;
        else quote = null;
      }
    } else if (c === "'" || c === '"') quote = c;
    else if (c === "[" || c === "{") depth++;
    else if (c === "]" || c === "}") depth--;
    else if (c === "#" && depth === 0) break;
  }
  return depth <= 0 && !quote;
}

/** Plain scalars as YAML 1.1 resolves them (what PyYAML does). */
function resolvePlain(text) {
  if (/^(~|null|Null|NULL)?$/.test(text)) return null;
  if (/^(true|True|TRUE|yes|Yes|YES|on|On|ON)$/.test(text)) return true;
  if (/^(false|False|FALSE|no|No|NO|off|Off|OFF)$/.test(text)) return false;
  if (/^[-+]?(0|[1-9][0-9_]*)$/.test(text)) return Number(text.replace(/_/g, ""));
  if (/^[-+]?([0-9][0-9_]*)?\.[0-9_]*([eE][-+][0-9]+)?$/.test(text) && /\d/.test(text)) {
    return Number(text.replace(/_/g, ""));
  }
  return text;
}

const ESCAPES = { n: "\n", t: "\t", r: "\r", "0": "\0", '"': '"', "\\": "\\", "/": "/", " ": " ", b: "\b", f: "\f" };

class FlowScanner {
  constructor(text, line) {
    this.text = text;
    this.position = 0;
    this.line = line;
  }

  fail(message) { throw new YAMLError(`line ${this.line ? this.line.number : "?"}: ${message}`); }
  atEnd() { return this.position >= this.text.length; }
  peek() { return this.text[this.position]; }
  skipSpace() { while (!this.atEnd() && /\s/.test(this.peek())) this.position++; }

  value() {
    this.skipSpace();
    const c = this.peek();
    if (c === "[") return this.sequence();
    if (c === "{") return this.mapping();
    if (c === "'" || c === '"') return this.quoted();
    return this.plain();
  }

  sequence() {
    this.position++;
    const items = [];
    for (;;) {
      this.skipSpace();
      if (this.peek() === "]") { this.position++; return items; }
      items.push(this.value());
      this.skipSpace();
      if (this.peek() === ",") this.position++;
      else if (this.peek() !== "]") this.fail("expected , or ] in a flow sequence");
    }
  }

  mapping() {
    this.position++;
    const result = {};
    for (;;) {
      this.skipSpace();
      if (this.peek() === "}") { this.position++; return result; }
      const key = this.peek() === "'" || this.peek() === '"' ? this.quoted() : this.plain(true);
      this.skipSpace();
      if (this.peek() !== ":") this.fail("expected : in a flow mapping");
      this.position++;
      result[String(key)] = this.value();
      this.skipSpace();
      if (this.peek() === ",") this.position++;
      else if (this.peek() !== "}") this.fail("expected , or } in a flow mapping");
    }
  }

  quoted() {
    const quote = this.text[this.position++];
    let out = "";
    for (;;) {
      if (this.atEnd()) this.fail("unclosed quote");
      const c = this.text[this.position++];
      if (c === quote) {
        if (quote === "'" && this.peek() === "'") { out += "'"; this.position++; continue; }
        return out;
      }
      if (quote === '"' && c === "\\") {
        const e = this.text[this.position++];
        if (e === "u" || e === "x" || e === "U") {
          const size = e === "u" ? 4 : e === "x" ? 2 : 8;
          out += String.fromCodePoint(parseInt(this.text.slice(this.position, this.position + size), 16));
          this.position += size;
        } else if (e in ESCAPES) out += ESCAPES[e];
        else this.fail(`unknown escape \\${e}`);
        continue;
      }
      out += c;
    }
  }

  plain(isKey = false) {
    const start = this.position;
    while (!this.atEnd()) {
      const c = this.peek();
      if (c === "," || c === "]" || c === "}") break;
      if (c === ":" && (isKey || /\s/.test(this.text[this.position + 1] || " "))) break;
      this.position++;
    }
    return resolvePlain(this.text.slice(start, this.position).trim());
  }
}
