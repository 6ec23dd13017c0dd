import { z } from 'zod';
import { ForbiddenError } from '../access/access.ts';
import { agentRefInput } from '../agents/agents.ts';
import { listAudit } from '../audit/audit.ts';
import { defineOperation, toJson } from './operation.ts';

export const listAuditOp = defineOperation({
  name: 'list_audit',
  title: 'Show the audit log',
  description:
    "Lists who changed what and when, newest first: an agent's trail (read access to it), or everything (admin keys). Each " +
    "entry names its actor as stored (cli:<user>, key:<api key id>, system) and for people (actorName: the key's name).",
  input: z.object({
    agent: agentRefInput.optional().describe('Only this agent\'s entries (admin keys may leave it out: everything)'),
    entityId: z.string().min(1).max(200).optional().describe('Only entries about this entity (an example id, a key id, ...)'),
    before: z.number().int().min(1).optional().describe('Only entries older than this id (the last id of the previous page)'),
    limit: z.number().int().min(1).max(1000).default(50).describe('At most this many, 1-1000'),
  }),
  output: z.object({
    items: z.array(
      z.object({
        id: z.number().int(),
        at: z.string(),
        actor: z.string(),
        actorName: z.string(),
        action: z.string(),
        entityType: z.string(),
        entityId: z.string().nullable(),
        agentId: z.string().nullable(),
        details: z.record(z.string(), z.unknown()),
      }),
    ),
  }),
  access: { agent: (i) => i.agent, level: 'read' },
  http: { method: 'GET', path: '/v1/audit' },
  doors: ['cli', 'http'], // for people (the web UI, a shell), not worth a model's context
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true },
  cli: { command: 'audit', columns: ['id', 'at', 'actorName', 'action', 'entityType', 'entityId'], examples: ['exemplar audit --agent code-helper --limit 20'] },
  run: async ({ agent, entityId, before, limit }, { app, access }) => {
    if (agent === undefined && !access.admin) throw new ForbiddenError('the whole audit log needs an admin key; give agent for one agent\'s entries');
    const agentId = agent === undefined ? undefined : (await app.agents.resolve(agent)).id;
    return { items: toJson(await listAudit(app.db, { agentId, entityId, before, limit })) };
  },
});
