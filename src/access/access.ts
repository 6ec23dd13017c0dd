import { ExemplarError } from '../errors.ts';

/**
 * What a caller may touch. The CLI runs with full access (it owns the database anyway); HTTP and MCP
 * callers get the access of their API key: admin, or read or write on named agents.
 */
export interface Access {
  /** The API key's id (never the key); null for the CLI. */
  keyId: string | null;
  admin: boolean;
  /** Agent ids the caller may read (write implies read). */
  read: ReadonlySet<string>;
  /** Agent ids the caller may change. */
  write: ReadonlySet<string>;
}

export const FULL_ACCESS: Access = { keyId: null, admin: true, read: new Set(), write: new Set() };
/** What a request carries before it is authenticated: nothing. */
export const NO_ACCESS: Access = { keyId: null, admin: false, read: new Set(), write: new Set() };

export function canRead(access: Access, agentId: string): boolean {
  return access.admin || access.read.has(agentId) || access.write.has(agentId);
}

export function canWrite(access: Access, agentId: string): boolean {
  return access.admin || access.write.has(agentId);
}

/** The agents a caller may read, or 'all'. */
export function readableAgents(access: Access): string[] | 'all' {
  return access.admin ? 'all' : [...new Set([...access.read, ...access.write])];
}

/** No key, or a key that is unknown or revoked. */
export class AuthenticationError extends ExemplarError {
  readonly code = 'unauthenticated';
  readonly status = 401;
}

/** A valid key without the right to do this. */
export class ForbiddenError extends ExemplarError {
  readonly code = 'forbidden';
  readonly status = 403;
}
