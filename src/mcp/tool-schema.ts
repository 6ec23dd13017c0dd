import type { StandardSchemaWithJSON } from '@modelcontextprotocol/server';
import { z } from 'zod';
import { agentRefInput } from '../agents/agents.ts';
import { BRIEF_IN_TOOL_LIST, type BriefPart, type Operation } from '../operations/operation.ts';

type Json = Record<string, unknown>;

/**
 * Each operation's listed schema, converted once per process: the stateless (2026-07-28) door builds
 * a server, and so every tool, for each request, and tools/list would otherwise convert all of them.
 */
const listedByOperation = new WeakMap<Operation, Json>();

/**
 * A tool's arguments as tools/list shows them to a model: the JSON Schema of the operation's zod
 * input, less what only costs tokens ($schema on every tool, the ±2^53 bounds zod gives every
 * integer). The SDK does not validate with it: invoke() validates with zod, as on every door, so a
 * bad argument gets the same message, naming the field, as on REST and the CLI.
 */
export function listedInputSchema(op: Operation): StandardSchemaWithJSON<Json> {
  const listed = () => {
    let json = listedByOperation.get(op);
    if (!json) listedByOperation.set(op, (json = compact(z.toJSONSchema(op.input, { io: 'input', unrepresentable: 'any', target: 'draft-2020-12' })) as Json));
    return json;
  };
  return {
    '~standard': {
      version: 1,
      vendor: 'exemplar',
      validate: (value: unknown) => ({ value: (value ?? {}) as Json }),
      jsonSchema: { input: listed, output: listed },
    },
  };
}

/**
 * Field descriptions that the server's instructions give once, instead of on every tool that has
 * the field (the agent argument is on nearly all of them): description → the instructions' sentence.
 */
export const SAID_IN_INSTRUCTIONS = new Map([[agentRefInput.description!, 'An agent argument takes the agent\'s name or its id.']]);

function compact(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(compact);
  if (!node || typeof node !== 'object') return node;
  const out: Json = {};
  const brief = (node as Json)[BRIEF_IN_TOOL_LIST] as BriefPart | undefined;
  for (const [key, value] of Object.entries(node)) {
    if (key === '$schema' || key === BRIEF_IN_TOOL_LIST) continue;
    if (brief === 'fields' && (key === 'properties' || key === 'additionalProperties' || key === 'required')) continue;
    if (key === 'description' && (brief === 'description' || SAID_IN_INSTRUCTIONS.has(value as string))) continue;
    if ((key === 'propertyNames' && isStringType(value)) || (key === 'additionalProperties' && isEmpty(value))) continue; // what JSON allows anyway
    if ((key === 'minimum' && value === Number.MIN_SAFE_INTEGER) || (key === 'maximum' && value === Number.MAX_SAFE_INTEGER)) continue;
    if (key === 'minLength' && value === 1) continue; // "not empty" goes without saying, and is still checked
    out[key] = compact(value);
  }
  return out;
}

/**
 * The operation's hints, less those equal to MCP's defaults (readOnlyHint false, destructiveHint
 * true, idempotentHint false). The other two only mean something for a tool that writes.
 */
export function listedAnnotations(op: Operation): Operation['annotations'] | Partial<Operation['annotations']> {
  const { readOnlyHint, destructiveHint, idempotentHint } = op.annotations;
  if (readOnlyHint) return { readOnlyHint };
  return { ...(destructiveHint ? {} : { destructiveHint }), ...(idempotentHint ? { idempotentHint } : {}) };
}

const isStringType = (v: unknown) => JSON.stringify(v) === '{"type":"string"}';
const isEmpty = (v: unknown) => typeof v === 'object' && v !== null && Object.keys(v).length === 0;
