/** Renders rows as an aligned text table that fits the terminal, one line per row. */
export function renderTable(rows: Record<string, unknown>[], columns: string[], width = process.stdout.columns || 120): string {
  if (rows.length === 0) return '(none)';
  const cells = rows.map((r) => columns.map((c) => cell(r[c])));
  // A loop, not Math.max(...): a spread of every row overflows the stack on a large result.
  const widths = columns.map((c, i) => cells.reduce((w, row) => Math.max(w, row[i].length), header(c).length));
  const gap = 2;
  // Shrink the widest column until the table fits; ids stay whole so they can be copied.
  const shrinkable = (i: number) => columns[i] !== 'id' && widths[i] > 12;
  while (widths.reduce((a, b) => a + b + gap, 0) > width) {
    let i = -1;
    widths.forEach((w, j) => {
      if (shrinkable(j) && (i < 0 || w > widths[i])) i = j;
    });
    if (i < 0) break;
    widths[i]--;
  }
  const line = (values: string[]) =>
    values.map((v, i) => fit(v, widths[i])).join(' '.repeat(gap)).trimEnd();
  return [line(columns.map(header)), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}

function header(name: string): string {
  // Metric names read as people write them: hitAt1 is "hit@1", ndcgAt10 "ndcg@10".
  return name.replace(/At(\d+)$/, '@$1').replace(/([A-Z])/g, ' $1').toLowerCase();
}

function cell(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : v.toFixed(3);
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v).replace(/\s+/g, ' ');
}

function fit(v: string, w: number): string {
  return v.length > w ? `${v.slice(0, w - 1)}…` : v.padEnd(w);
}

/** Renders a flat object as "key: value" lines. */
export function renderRecord(obj: Record<string, unknown>): string {
  const keys = Object.keys(obj);
  const pad = keys.reduce((w, k) => Math.max(w, header(k).length), 0);
  return keys
    .map((k) => {
      const v = obj[k];
      const text = typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v);
      return `${header(k).padEnd(pad)}  ${text.includes('\n') ? `\n${indent(text)}` : text}`;
    })
    .join('\n');
}

function indent(text: string): string {
  return text.split('\n').map((l) => `    ${l}`).join('\n');
}
