// The API reference (/docs): reads /openapi.json (www/openapi.yaml as JSON, made by `make openapi`) and renders
// its operations and schemas. Every text from the document reaches the page as text, never as markup.

import { el, fill } from "./dom.js";

const METHODS = ["get", "post", "put", "patch", "delete"];

/** A little of Markdown, as text nodes: paragraphs, "- " lists, **bold** and `code`. */
function markdown(text) {
  const blocks = String(text || "").trim().split(/\n\s*\n/);
  const out = [];
  for (const block of blocks) {
    const lines = block.split("\n");
    if (lines.every((line) => /^\s*- /.test(line) || /^\s{2,}\S/.test(line))) {
      const items = [];
      for (const line of lines) {
        if (/^\s*- /.test(line)) items.push(line.replace(/^\s*- /, ""));
        else items[items.length - 1] += " " + line.trim();
      }
      out.push(el("ul", {}, items.map((item) => el("li", {}, inline(item)))));
    } else {
      out.push(el("p", {}, inline(lines.join(" "))));
    }
  }
  return out;
}

function inline(text) {
  const parts = [];
  const pattern = /(\*\*[^*]+\*\*|`[^`]+`)/g;
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    parts.push(text.slice(last, match.index));
    const token = match[0];
    parts.push(token.startsWith("**") ? el("strong", {}, token.slice(2, -2)) : el("code", {}, token.slice(1, -1)));
    last = match.index + token.length;
  }
  parts.push(text.slice(last));
  return parts;
}

function resolve(spec, node) {
  let current = node;
  for (let hops = 0; current && current.$ref && hops < 10; hops++) {
    current = current.$ref.replace(/^#\//, "").split("/").reduce((value, key) => (value ? value[key] : undefined), spec);
  }
  return current || {};
}

const refName = (ref) => ref.split("/").pop();

/** A schema in one line: a link to a named schema, or its type with format, enum and bounds. */
function typeOf(schema) {
  if (!schema) return "";
  if (schema.$ref) return el("a", { href: `#schema-${refName(schema.$ref)}`, class: "type" }, refName(schema.$ref));
  if (schema.allOf && schema.allOf.length === 1) return typeOf(schema.allOf[0]);
  const alternatives = schema.oneOf || schema.anyOf;
  if (alternatives) return joined(alternatives.map(typeOf), " | ");
  if (schema.type === "array") return el("span", { class: "type" }, "array of ", typeOf(schema.items));
  let text = schema.type || "object";
  if (schema.format) text += ` (${schema.format})`;
  if (schema.enum) text += ` ${schema.enum.map((v) => JSON.stringify(v)).join(" | ")}`;
  if (schema.nullable) text += " or null";
  return el("span", { class: "type" }, text);
}

function joined(nodes, separator) {
  return nodes.flatMap((node, index) => (index ? [separator, node] : [node]));
}

function propertiesTable(schema) {
  const properties = schema.properties || {};
  const required = new Set(schema.required || []);
  const names = Object.keys(properties);
  if (names.length === 0) return null;
  return el("div", { class: "table-wrap" }, el("table", { class: "data" },
    el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Field"), el("th", { scope: "col" }, "Type"),
      el("th", { scope: "col" }, "Description"))),
    el("tbody", {}, names.map((name) => el("tr", {},
      el("td", {}, name, required.has(name) ? el("span", { class: "req", title: "required" }, "required") : null),
      el("td", {}, typeOf(properties[name])),
      el("td", {}, properties[name].description || ""))))));
}

function operation(spec, path, method, op) {
  const id = `op-${op.operationId || method + path}`;
  const isPublic = Array.isArray(op.security) && op.security.length === 0;
  const section = el("section", { class: "panel op", id },
    el("div", { class: "op-head" },
      el("span", { class: `method ${method}` }, method),
      el("h3", {}, path),
      isPublic ? el("span", { class: "public" }, "no token") : null),
    el("p", { class: "op-summary" }, op.summary || ""),
    op.description ? markdown(op.description) : null);

  const parameters = (op.parameters || []).map((p) => resolve(spec, p));
  if (parameters.length) {
    section.append(el("h4", {}, "Parameters"), el("div", { class: "table-wrap" }, el("table", { class: "data" },
      el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Name"), el("th", { scope: "col" }, "In"),
        el("th", { scope: "col" }, "Type"), el("th", { scope: "col" }, "Description"))),
      el("tbody", {}, parameters.map((p) => el("tr", {},
        el("td", {}, p.name, p.required ? el("span", { class: "req" }, "required") : null),
        el("td", {}, p.in), el("td", {}, typeOf(p.schema)), el("td", {}, p.description || "")))))));
  }

  if (op.requestBody) {
    const body = resolve(spec, op.requestBody);
    const media = (body.content || {})["application/json"] || {};
    section.append(el("h4", {}, "Request body"), el("p", {}, typeOf(media.schema)));
    const table = propertiesTable(resolve(spec, media.schema));
    if (table) section.append(table);
    if (media.example !== undefined) {
      section.append(el("pre", { class: "example" }, JSON.stringify(media.example, null, 2)));
    }
  }

  const responses = Object.entries(op.responses || {});
  section.append(el("h4", {}, "Responses"), el("div", { class: "table-wrap" }, el("table", { class: "data" },
    el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Status"), el("th", { scope: "col" }, "Body"),
      el("th", { scope: "col" }, "Meaning"))),
    el("tbody", {}, responses.map(([status, response]) => {
      const resolved = resolve(spec, response);
      const media = (resolved.content || {})["application/json"] || {};
      return el("tr", {}, el("td", {}, status), el("td", {}, typeOf(media.schema)),
        el("td", {}, inline(resolved.description || "")));
    })))));
  return section;
}

function render(spec) {
  const main = document.getElementById("main");
  const toc = document.getElementById("toc");
  const info = spec.info || {};
  document.title = `${info.title || "API"} ${info.version || ""} · API reference`;
  const byTag = new Map((spec.tags || []).map((tag) => [tag.name, []]));
  for (const [path, item] of Object.entries(spec.paths || {})) {
    for (const method of METHODS) {
      if (!item[method]) continue;
      const tag = (item[method].tags || ["other"])[0];
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag).push([path, method, item[method]]);
    }
  }
  const content = [
    el("section", { class: "docs-intro" },
      el("h1", {}, `${info.title || "API"} API `, el("span", { class: "muted" }, `v${info.version || "?"}`)),
      markdown(info.description)),
  ];
  const tocItems = [];
  for (const [tag, operations] of byTag) {
    if (operations.length === 0) continue;
    content.push(el("h2", { class: "docs-tag", id: `tag-${tag}` }, tag));
    tocItems.push(el("h2", {}, tag), el("ul", {}, operations.map(([path, method, op]) => el("li", {},
      el("a", { href: `#op-${op.operationId || method + path}` }, el("span", { class: `method ${method}` }, method),
        el("span", {}, path))))));
    for (const [path, method, op] of operations) content.push(operation(spec, path, method, op));
  }
  const schemas = Object.entries((spec.components || {}).schemas || {});
  content.push(el("h2", { class: "docs-tag", id: "schemas" }, "Schemas"));
  tocItems.push(el("h2", {}, el("a", { href: "#schemas" }, "Schemas")));
  for (const [name, schema] of schemas) {
    const alternatives = schema.oneOf || schema.anyOf;
    content.push(el("section", { class: "panel schema", id: `schema-${name}` },
      el("h3", {}, name),
      schema.description ? markdown(schema.description) : null,
      propertiesTable(schema) || el("p", {}, typeOf(alternatives ? schema : { ...schema, description: undefined })),
      schema.pattern ? el("p", { class: "muted" }, "Pattern: ", el("code", {}, schema.pattern)) : null));
  }
  fill(main, ...content);
  fill(toc, ...tocItems);
  if (location.hash) document.getElementById(location.hash.slice(1))?.scrollIntoView();
}

async function main() {
  const status = document.getElementById("docs-status");
  try {
    const response = await fetch("/openapi.json", { cache: "no-cache" });
    if (!response.ok) throw new Error(`/openapi.json answered ${response.status}`);
    render(await response.json());
  } catch (error) {
    status.textContent = `The API description could not be shown: ${error.message}`;
    status.className = "notice bad";
  }
}

main();
