import { z } from 'zod';
import { scopeInput } from '../access/api-keys.ts';
import { uuid } from '../validation.ts';
import { defineOperation, toJson } from './operation.ts';

const keyJson = z.object({
  id: z.string(),
  name: z.string(),
  prefix: z.string(),
  scopes: z.array(z.string()),
  createdAt: z.string(),
  lastUsedAt: z.string().nullable(),
  revokedAt: z.string().nullable(),
});

// Keys are managed from a shell on the server, and by admin keys over HTTP (the web UI's Keys page,
// which shows a new key once). Never through MCP: a tool result must never carry a key.
const NOT_MCP: ('cli' | 'mcp' | 'http')[] = ['cli', 'http'];

export const createApiKey = defineOperation({
  name: 'create_api_key',
  title: 'Create an API key',
  description:
    'Creates a bearer API key for the HTTP and MCP doors. Scopes: "admin" (everything), "read:<agent>" (see one agent) ' +
    'or "write:<agent>" (see and change one agent); give several. The key is printed once and stored only as a hash.',
  input: z.object({
    scope: z.array(scopeInput).min(1).describe('admin, read:<agent> or write:<agent>; several allowed'),
    name: z.string().max(200).optional().describe('A label, e.g. "cursor on alice\'s laptop"'),
  }),
  output: keyJson.extend({ key: z.string() }),
  doors: NOT_MCP,
  http: { method: 'POST', path: '/v1/keys' },
  access: 'admin',
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false },
  cli: {
    command: 'keys create',
    signInKey: (k) => k.key,
    summary: (k) => `Created key ${k.id} (${k.scopes.join(', ')}). Store it now; it is not shown again:\n\n  ${k.key}\n`,
    examples: ['exemplar keys create --scope admin --name ops', 'exemplar keys create --scope read:demo-coding-assistant write:code-helper'],
  },
  run: async ({ scope, name }, { app, actor }) => toJson(await app.apiKeys.create({ scopes: scope, name }, actor)),
});

export const listApiKeys = defineOperation({
  name: 'list_api_keys',
  title: 'List API keys',
  description: 'Lists API keys with their scopes, prefix, last use and revocation; never the keys themselves.',
  input: z.object({}),
  output: z.object({ items: z.array(keyJson) }),
  doors: NOT_MCP,
  http: { method: 'GET', path: '/v1/keys' },
  access: 'admin',
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true },
  cli: { command: 'keys list', columns: ['id', 'name', 'prefix', 'scopes', 'lastUsedAt', 'revokedAt'] },
  run: async (_input, { app }) => ({ items: toJson(await app.apiKeys.list()) }),
});

export const revokeApiKey = defineOperation({
  name: 'revoke_api_key',
  title: 'Revoke an API key',
  description: 'Revokes an API key at once: every later request with it is refused.',
  input: z.object({ id: uuid.describe('Key id (see keys list)') }),
  output: keyJson,
  doors: NOT_MCP,
  http: { method: 'POST', path: '/v1/keys/{id}/revoke' },
  access: 'admin',
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true },
  cli: { command: 'keys revoke', args: ['id'], summary: (k) => `Revoked key ${k.id}.` },
  run: async ({ id }, { app, actor }) => toJson(await app.apiKeys.revoke(id, actor)),
});
