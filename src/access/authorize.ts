import type { z } from 'zod';
import { NotFoundError } from '../errors.ts';
import type { Operation, OperationContext } from '../operations/operation.ts';
import { canRead, canWrite, ForbiddenError, type Access } from './access.ts';

/**
 * Whether a caller could ever call the operation: what a key's tool list shows it. A read-only key
 * does not see tools that only change things; the check per call (`authorize`) still decides.
 */
export function mayCall(op: Operation, access: Access): boolean {
  if (access.admin) return true;
  const rule = op.access ?? 'admin';
  if (rule === 'filtered') return true;
  if (rule === 'admin') return false;
  const level = rule.level ?? (op.annotations.readOnlyHint ? 'read' : 'write');
  return level === 'read' ? access.read.size + access.write.size > 0 : access.write.size > 0;
}

/**
 * Checks the caller's access against the operation's rule. An agent the caller may not read is
 * reported exactly like an agent that does not exist, so a scoped key learns nothing about others.
 */
export async function authorize<I extends z.ZodObject, O extends z.ZodType>(
  op: Operation<I, O>,
  input: z.output<I>,
  ctx: OperationContext,
): Promise<void> {
  const { access, app } = ctx;
  if (access.admin) return;
  const rule = op.access ?? 'admin';
  if (rule === 'filtered') return;
  if (rule === 'admin') throw new ForbiddenError(`${op.name} needs an admin key`);
  const level = rule.level ?? (op.annotations.readOnlyHint ? 'read' : 'write');
  const allowed = (agentId: string) => (level === 'read' ? canRead(access, agentId) : canWrite(access, agentId));
  if ('agent' in rule) {
    const ref = rule.agent(input);
    if (ref === undefined) return;
    const agent = await app.agents.resolve(ref);
    if (!canRead(access, agent.id)) throw new NotFoundError('agent', ref);
    if (!allowed(agent.id)) throw new ForbiddenError(`this key may not change agent "${agent.name}" (it has read access only)`);
    return;
  }
  const ids = rule.examples(input);
  const { rows } = await app.db.query<{ id: string; agentId: string }>(
    'SELECT id::text, agent_id::text AS "agentId" FROM training_examples WHERE id = ANY($1::uuid[])',
    [ids],
  );
  for (const r of rows) {
    if (!canRead(access, r.agentId)) throw new NotFoundError('example', r.id);
    if (!allowed(r.agentId)) throw new ForbiddenError(`this key may not change example ${r.id} (read access only)`);
  }
}
