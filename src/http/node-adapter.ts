import type http from 'node:http';
import { BodyTooLargeError } from '../errors.ts';

/** How large a request body may be, and the variable that sets it (named in the 413). */
export interface BodyLimit {
  bytes: number;
  variable: string;
}

/** Whether the request says it carries a body (a Content-Length above 0, or chunked). */
export function hasBody(req: http.IncomingMessage): boolean {
  return req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
}

/**
 * For an answer that leaves the request's body unread or part read (a 401, a 413, /healthz): the
 * rest is read and dropped, not kept, and the connection is cut a moment after the answer if the
 * client is still sending. Closing at once would reset a socket with unread data, and the client
 * would see that instead of the answer.
 */
export function dropRestOfBody(req: http.IncomingMessage, res: http.ServerResponse, graceMs = 1000): void {
  if (!hasBody(req) || req.readableEnded) return;
  req.on('data', () => {});
  res.once('finish', () => {
    if (req.readableEnded) return;
    const timer = setTimeout(() => req.socket.destroy(), graceMs);
    timer.unref();
    req.once('end', () => clearTimeout(timer));
  });
}

/** A declared Content-Length over the limit: refused before a byte of the body is read. */
export function checkDeclaredLength(req: http.IncomingMessage, limit: BodyLimit): void {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit.bytes) throw new BodyTooLargeError(limit.bytes, limit.variable);
}

/**
 * Reads the body, counting bytes as they arrive: a chunked body (no Content-Length) or one that
 * lies about its length stops being kept at the limit, so no more than the limit is ever held. The
 * rest is read and dropped, not left unread: a socket closed with unread data is reset, and the
 * client would see that instead of the 413 (the server closes the connection after it).
 */
export function readBody(req: http.IncomingMessage, limit: BodyLimit): Promise<Buffer<ArrayBuffer>> {
  checkDeclaredLength(req, limit);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit.bytes) return void chunks.push(chunk);
      chunks.length = 0;
      req.off('data', onData);
      req.on('data', () => {}); // the rest is dropped (see dropRestOfBody)
      reject(new BodyTooLargeError(limit.bytes, limit.variable));
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks)));
    req.once('error', reject);
    req.once('close', () => (req.readableEnded ? undefined : reject(new Error('the client closed the connection before sending the whole body'))));
  });
}

/**
 * node:http request -> web Request (the MCP SDK speaks web-standard Request and Response). Without
 * `body`, the Request has headers only: routing and authentication need no more, so a request that
 * is refused never has its body read.
 */
export function toWebRequest(req: http.IncomingMessage, url: string, signal: AbortSignal, body?: Buffer<ArrayBuffer>): Request {
  const headers = new Headers();
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers.set(k, Array.isArray(v) ? v.join(', ') : v);
  const withBody = body !== undefined && req.method !== 'GET' && req.method !== 'HEAD' && body.length > 0;
  return new Request(url, { method: req.method, headers, body: withBody ? body : undefined, signal });
}

/** Web Response -> node:http, streaming the body (MCP answers can be SSE streams). */
export async function sendResponse(res: http.ServerResponse, response: Response): Promise<void> {
  const headers: Record<string, string> = {};
  response.headers.forEach((v, k) => {
    headers[k] = v;
  });
  res.writeHead(response.status, headers);
  if (!response.body) {
    res.end();
    return;
  }
  res.flushHeaders();
  const reader = response.body.getReader();
  res.on('close', () => void reader.cancel().catch(() => {}));
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      res.write(value);
    }
  } catch {
    // the client went away
  }
  res.end();
}
