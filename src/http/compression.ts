import { promisify } from 'node:util';
import zlib from 'node:zlib';

const brotli = promisify(zlib.brotliCompress);
const gzip = promisify(zlib.gzip);

/** Below this a compressed body saves less than the headers cost. */
const MIN_BYTES = 1024;
const COMPRESSIBLE = /^(text\/(?!event-stream)|application\/(json|javascript|xml)|image\/svg\+xml)/;

/** Compressed copies of immutable files (the UI's hashed assets), by encoding and path. */
const cache = new Map<string, Buffer>();

/**
 * The response compressed with brotli or gzip, whichever the client prefers, when its type is worth
 * compressing: the web UI's scripts and styles, JSON answers, the docs. Event streams (MCP's SSE)
 * pass untouched, since compression would hold back their events. `immutableKey` caches the result
 * of a file that never changes (best quality, paid once).
 */
export async function compress(acceptEncoding: string | undefined, response: Response, immutableKey?: string): Promise<Response> {
  const type = response.headers.get('content-type') ?? '';
  const encoding = pickEncoding(acceptEncoding);
  if (!encoding || !response.body || !COMPRESSIBLE.test(type) || response.headers.has('content-encoding')) return vary(response);
  const body = Buffer.from(await response.arrayBuffer());
  if (body.length < MIN_BYTES) return vary(new Response(body, response));
  const key = immutableKey && `${encoding} ${immutableKey}`;
  let packed = key ? cache.get(key) : undefined;
  if (!packed) {
    // Quality 11 for files compressed once; 4 for answers compressed every time (fast, still ~4x smaller for JSON).
    const quality = key ? zlib.constants.BROTLI_MAX_QUALITY : 4;
    packed = encoding === 'br' ? await brotli(body, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: quality } }) : await gzip(body, { level: key ? 9 : 6 });
    if (key) cache.set(key, packed);
  }
  const headers = new Headers(response.headers);
  headers.set('content-encoding', encoding);
  headers.delete('content-length');
  headers.append('vary', 'accept-encoding');
  return new Response(new Uint8Array(packed), { status: response.status, statusText: response.statusText, headers });
}

/** Caches must keep the encodings apart even when this response was not compressed. */
function vary(response: Response): Response {
  if (!response.headers.get('vary')?.toLowerCase().includes('accept-encoding')) response.headers.append('vary', 'accept-encoding');
  return response;
}

/** br when the client takes it, else gzip, else nothing; `q=0` refuses an encoding. */
export function pickEncoding(header: string | undefined): 'br' | 'gzip' | undefined {
  const accepted = new Map<string, number>();
  for (const part of (header ?? '').split(',')) {
    const [name, ...params] = part.trim().toLowerCase().split(';');
    if (!name) continue;
    const q = params.map((p) => /^\s*q=([\d.]+)\s*$/.exec(p)?.[1]).find((x) => x !== undefined);
    accepted.set(name, q === undefined ? 1 : Number(q));
  }
  const wants = (name: string) => (accepted.get(name) ?? accepted.get('*') ?? 0) > 0;
  return wants('br') ? 'br' : wants('gzip') ? 'gzip' : undefined;
}
