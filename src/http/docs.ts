/** The /docs page: the OpenAPI document as readable HTML, rendered on the server (no scripts, no CDN). */
export function docsPage(openapi: Record<string, unknown>): string {
  const paths = openapi.paths as Record<string, Record<string, Operation>>;
  const sections = Object.entries(paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, op]) => {
      const params = (op.parameters ?? []).map((p) => `<li><code>${esc(p.name)}</code> (${p.in}${p.required ? ', required' : ''})${p.description ? `: ${esc(p.description)}` : ''}</li>`);
      const body = op.requestBody?.content?.['application/json']?.schema?.properties ?? {};
      const fields = Object.entries(body).map(([name, s]) => `<li><code>${esc(name)}</code>${s.description ? `: ${esc(String(s.description))}` : ''}</li>`);
      return `<section id="${esc(op.operationId)}"><h2><span class="m">${method.toUpperCase()}</span> <code>${esc(path)}</code></h2>
<p><b>${esc(op.summary)}</b> (<code>${esc(op.operationId)}</code>). ${esc(op.description)}</p>
${params.length ? `<h3>Parameters</h3><ul>${params.join('')}</ul>` : ''}${fields.length ? `<h3>JSON body</h3><ul>${fields.join('')}</ul>` : ''}</section>`;
    }),
  );
  const info = openapi.info as { title: string; description: string };
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(info.title)}</title><style>
body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
section{border-top:1px solid #ddd;padding:.5rem 0}h2{font-size:1.05rem}.m{display:inline-block;min-width:4.5rem;color:#fff;background:#345;border-radius:4px;padding:0 .4rem;text-align:center}
code{background:#f3f3f3;padding:0 .25rem;border-radius:3px}</style></head><body>
<h1>${esc(info.title)}</h1><p>${esc(info.description)} The machine-readable document is <a href="/openapi.json">/openapi.json</a>.</p>
${sections.join('\n')}</body></html>`;
}

interface Operation {
  operationId: string;
  summary: string;
  description: string;
  parameters?: { name: string; in: string; required?: boolean; description?: string }[];
  requestBody?: { content?: Record<string, { schema?: { properties?: Record<string, { description?: unknown }> } }> };
}

function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
