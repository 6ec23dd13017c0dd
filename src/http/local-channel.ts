import { randomBytes, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { processAlive } from '../process-alive.ts';

/**
 * How CLI commands reach a running `exemplar serve` that owns the embedded database (one process
 * may open it). The server writes `<data dir>/server.json` at start, readable by this user only
 * (mode 0600), with its URL and a random token; it removes the file when it stops. A CLI command
 * that finds the file, with its server alive, sends the operation there instead of opening the
 * database. The token is what proves "a shell of the user who owns this data folder": it never
 * leaves the machine and is not an API key.
 */
export const CHANNEL_FILE = 'server.json';
/** The route the channel uses; only the token opens it. */
export const CHANNEL_PATH = '/local/invoke';

export interface LocalChannel {
  url: string;
  token: string;
  pid: number;
}

/** Writes the channel file for a server at `url`; `close` removes it (only if it is still ours). */
export function openLocalChannel(dataDir: string, url: string): { token: string; close(): void } {
  const token = randomBytes(32).toString('base64url');
  const file = path.join(dataDir, CHANNEL_FILE);
  fs.mkdirSync(dataDir, { recursive: true });
  // Written under a temporary name with the final mode, then renamed: never readable by others, never half written.
  const temp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temp, JSON.stringify({ url, token, pid: process.pid } satisfies LocalChannel), { mode: 0o600 });
  fs.renameSync(temp, file);
  return {
    token,
    close: () => {
      if (readChannelFile(file)?.token === token) fs.rmSync(file, { force: true });
    },
  };
}

/** The channel of a live server for this data folder, if there is one. */
export function findLocalChannel(dataDir: string): LocalChannel | undefined {
  const channel = readChannelFile(path.join(dataDir, CHANNEL_FILE));
  // Alive but another user's (EPERM) counts as alive: then its file would not have been readable either.
  return channel && processAlive(channel.pid) ? channel : undefined;
}

/**
 * Sends one operation through the channel: its status and JSON body, or undefined when the server
 * cannot be reached (it just stopped). node:http, not fetch: fetch loads undici, which would add a
 * fifth of a second and 40 MB to every command a running server answers.
 */
export function sendThroughChannel(channel: LocalChannel, request: unknown): Promise<{ status: number; body: unknown } | undefined> {
  return new Promise((resolve, reject) => {
    const payload = JSON.stringify(request);
    const req = http.request(
      `${channel.url}${CHANNEL_PATH}`,
      {
        method: 'POST',
        headers: { authorization: `Bearer ${channel.token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          let body: unknown = {};
          try {
            body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch {
            // a body that is not JSON: the status alone says what happened
          }
          resolve({ status: res.statusCode ?? 500, body });
        });
      },
    );
    req.on('error', () => resolve(undefined));
    req.end(payload);
  });
}

/** Whether a request carries the channel's token (compared in constant time). */
export function channelTokenMatches(header: string | null, token: string): boolean {
  const given = /^Bearer\s+(\S+)$/i.exec(header ?? '')?.[1];
  if (!given) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

function readChannelFile(file: string): LocalChannel | undefined {
  try {
    const c = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<LocalChannel>;
    return typeof c.url === 'string' && typeof c.token === 'string' && typeof c.pid === 'number' ? (c as LocalChannel) : undefined;
  } catch {
    return undefined;
  }
}
