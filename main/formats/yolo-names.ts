/**
 * The class names of an Ultralytics dataset yaml (`data.yaml`): its top-level `names` key, as a
 * block map (`  0: person`), a block list (`  - person`), a flow list (`[person, car]`) or a flow
 * map (`{0: person, 1: car}`), scalars plain or quoted. Only that key is read: the rest of the
 * file (paths, download scripts) means nothing to an import. A map's keys must be the indices 0 to
 * n-1, in any order. Errors name the file and line.
 */

/** One yaml scalar: quoted ('' escapes a quote; "..." with backslash escapes) or plain, a trailing comment removed. */
function scalar(text: string, where: string): string {
  const t = text.trim();
  if (t.startsWith("'")) {
    const m = /^'((?:[^']|'')*)'\s*(#.*)?$/.exec(t);
    if (!m) throw new Error(`${where}: unterminated quoted name ${t}`);
    return m[1]!.replace(/''/g, "'");
  }
  if (t.startsWith('"')) {
    const m = /^"((?:[^"\\]|\\.)*)"\s*(#.*)?$/.exec(t);
    if (!m) throw new Error(`${where}: unterminated quoted name ${t}`);
    return m[1]!.replace(/\\(.)/g, (_, c: string) => ({ n: '\n', t: '\t', '"': '"', '\\': '\\' } as Record<string, string>)[c] ?? c);
  }
  return t.replace(/\s+#.*$/, '').trim();
}

/** Splits a flow collection's inside at commas outside quotes. */
function flowItems(inner: string): string[] {
  const items: string[] = [];
  let quote: string | null = null;
  let start = 0;
  for (let i = 0; i < inner.length; i++) {
    const c = inner[i]!;
    if (quote) {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) quote = null;
    } else if (c === "'" || c === '"') quote = c;
    else if (c === ',') {
      items.push(inner.slice(start, i));
      start = i + 1;
    }
  }
  items.push(inner.slice(start));
  return items.map((s) => s.trim()).filter((s) => s !== '');
}

/** `index: name` of a map entry. */
function entry(text: string, where: string): [number, string] {
  const m = /^(\d+)\s*:\s*(.*)$/.exec(text.trim());
  if (!m) throw new Error(`${where}: expected "index: name", got ${JSON.stringify(text.trim())}`);
  return [Number(m[1]), scalar(m[2]!, where)];
}

function fromMap(entries: [number, string][], where: string): string[] {
  const names: string[] = [];
  for (const [index, name] of entries) {
    if (index >= entries.length || names[index] !== undefined) throw new Error(`${where}: the names' indices must be 0 to ${entries.length - 1}, each once (got ${index})`);
    names[index] = name;
  }
  return names;
}

export function yamlClassNames(text: string, file: string): string[] {
  const lines = text.split(/\r?\n/);
  const at = lines.findIndex((l) => /^names\s*:/.test(l));
  if (at < 0) throw new Error(`${file}: no top-level "names" key`);
  const where = `${file}:${at + 1}`;
  const inline = lines[at]!.replace(/^names\s*:/, '').replace(/^\s+#.*$/, '').trim();
  if (inline.startsWith('[')) {
    if (!inline.endsWith(']')) throw new Error(`${where}: a names list must close on its line`);
    return flowItems(inline.slice(1, -1)).map((s) => scalar(s, where));
  }
  if (inline.startsWith('{')) {
    if (!inline.endsWith('}')) throw new Error(`${where}: a names map must close on its line`);
    return fromMap(flowItems(inline.slice(1, -1)).map((s) => entry(s, where)), where);
  }
  if (inline !== '') throw new Error(`${where}: "names" must be a list or a map of the class names`);
  const list: string[] = [];
  const map: [number, string][] = [];
  for (let i = at + 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === '' || /^\s*#/.test(line)) continue;
    if (!/^(\s|-)/.test(line)) break; // the next top-level key (a list may sit at the key's indent)
    const here = `${file}:${i + 1}`;
    const item = /^\s*-\s?(.*)$/.exec(line);
    if (item) list.push(scalar(item[1]!, here));
    else map.push(entry(line, here));
  }
  if (list.length > 0 && map.length > 0) throw new Error(`${where}: "names" mixes list items and index: name entries`);
  return list.length > 0 ? list : fromMap(map, where);
}
