import { z } from 'zod';
import { agentRefInput } from '../agents/agents.ts';
import { counted, defineOperation } from './operation.ts';

export const exportLlamaIndexOp = defineOperation({
  name: 'export_llamaindex',
  title: 'Export an index for LlamaIndex',
  description:
    "Writes an agent's examples and their vectors as a LlamaIndex.TS persisted index (doc_store.json, index_store.json, " +
    'vector_store.json) in persistDir, replacing those files there. Load it with storageContextFromDefaults({ persistDir }) ' +
    "and VectorStoreIndex.init({ storageContext }), with Settings.embedModel set to the same embedding model (returned as " +
    'model). Each example is one node: its id is the example id, its text the prompt, a blank line and the completion, and ' +
    'its metadata holds prompt, completion, reward_score and example_type. Does not change Exemplar data.',
  input: z.object({
    agent: agentRefInput,
    persistDir: z.string().min(1).describe('Folder to write the index files to (created if missing)'),
  }),
  output: z.object({
    persistDir: z.string().describe('Absolute path of the folder written'),
    count: z.number().int().describe('Examples exported'),
    model: z.string().describe('Embedding model of the vectors; query with the same model'),
    files: z.array(z.string()).describe('Absolute paths of the files written'),
  }),
  // It writes files at a path of the caller's choosing: fine in a shell, not for a remote client.
  doors: ['cli'],
  access: { agent: (i) => i.agent },
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true },
  cli: {
    command: 'index export-llamaindex',
    flags: { persistDir: 'dir' },
    summary: (r) => `Exported ${counted(r.count, 'example')} (${r.model}) to ${r.persistDir}.`,
    examples: ['exemplar index export-llamaindex --agent demo-coding-assistant --dir ./storage'],
  },
  run: async ({ agent, persistDir }, { app, progress }) => {
    const { exportLlamaIndex } = await import('../vectors/llamaindex-export.ts'); // LlamaIndex loads only when it runs
    return exportLlamaIndex(app, agent, persistDir, { onProgress: progress });
  },
});
