import fs from 'node:fs/promises';
import path from 'node:path';
import { IndexDict } from '@llamaindex/core/data-structs';
import {
  DEFAULT_DOC_STORE_PERSIST_FILENAME,
  DEFAULT_INDEX_STORE_PERSIST_FILENAME,
  DEFAULT_NAMESPACE,
  DEFAULT_VECTOR_STORE_PERSIST_FILENAME,
} from '@llamaindex/core/global';
import type { TextNode } from '@llamaindex/core/schema';
import { KVDocumentStore } from '@llamaindex/core/storage/doc-store';
import { SimpleIndexStore } from '@llamaindex/core/storage/index-store';
import { SimpleKVStore } from '@llamaindex/core/storage/kv-store';
import { nodeToMetadata } from '@llamaindex/core/vector-store';
import type { Exemplar } from '../exemplar.ts';
import { exampleNode, type ExampleNodeSource } from './llamaindex-store.ts';

const BATCH = 2000;

export interface LlamaIndexExport {
  /** Absolute path of the folder written. */
  persistDir: string;
  /** Examples exported. */
  count: number;
  /** Embedding model the vectors came from; query the loaded index with the same model. */
  model: string;
  /** Absolute paths of the files written. */
  files: string[];
}

/**
 * Writes an agent's examples and their vectors in LlamaIndex.TS's persisted layout, so that
 *
 *   Settings.embedModel = <the agent's model, e.g. new HashingEmbedding()>;
 *   const storageContext = await storageContextFromDefaults({ persistDir });
 *   const index = await VectorStoreIndex.init({ storageContext });
 *
 * loads it (llamaindex 0.12). Each example is one TextNode (see `exampleNode`) with the example's
 * id. The files:
 * - doc_store.json: a KVDocumentStore ("docstore/data", "docstore/ref_doc_info", "docstore/metadata").
 * - index_store.json: a SimpleIndexStore holding one IndexDict (id = the agent's id) with every node.
 * - vector_store.json: SimpleVectorStore's data (embeddingDict, textIdToRefDocId, metadataDict). That
 *   class lives in the big `llamaindex` package, so its JSON is written here, as its `add()` would.
 *
 * The doc and index stores are built with @llamaindex/core's own classes. Vectors are the index's
 * own (of the prompt, same model); PostgreSQL decides which examples exist, and an example whose
 * indexed vector is missing or stale is embedded afresh. LlamaIndex reads each file as one JSON string, so
 * this suits agents up to roughly 100k examples at 384 dimensions.
 */
export async function exportLlamaIndex(
  app: Exemplar,
  agentRef: string,
  persistDir: string,
  opts: { onProgress?: (done: number, total: number) => void } = {},
): Promise<LlamaIndexExport> {
  const agent = await app.agents.resolve(agentRef);
  const embedder = app.index.embedder(agent.embeddingModel);
  const model = embedder.provider.modelId;
  const { rows: countRows } = await app.db.query<{ n: number }>('SELECT count(*)::int AS n FROM training_examples WHERE agent_id = $1', [agent.id]);
  const total = countRows[0].n;

  const docKv = new SimpleKVStore();
  const docStore = new KVDocumentStore(docKv, DEFAULT_NAMESPACE);
  const indexStruct = new IndexDict(agent.id as ConstructorParameters<typeof IndexDict>[0], `Training examples of Exemplar agent "${agent.name}" (vectors: ${model}, of the prompt)`);
  const vectors = {
    embeddingDict: {} as Record<string, number[]>,
    textIdToRefDocId: {} as Record<string, string>,
    metadataDict: {} as Record<string, Record<string, unknown>>,
  };

  const probe = new Float32Array(embedder.provider.dimensions);
  probe[0] = 1;
  const everything = { minReward: 0, alpha: 1, beta: 0 };
  let count = 0;
  let last = '00000000-0000-0000-0000-000000000000';
  for (;;) {
    const { rows } = await app.db.query<ExampleNodeSource & { hash: string }>(
      `SELECT id::text, prompt, completion, reward_score AS reward, example_type AS type, left(content_hash, 16) AS hash
         FROM training_examples WHERE agent_id = $1 AND id > $2 ORDER BY id LIMIT ${BATCH}`,
      [agent.id, last],
    );
    if (rows.length === 0) break;
    // The index's own vectors of these rows (either backend). Scoring needs a query; any unit vector will do.
    const proposed = await app.index.propose(agent, probe, rows.length, everything, { onlyIds: rows.map((r) => r.id), withVectors: true });
    const indexed = new Map(proposed.map((p) => [p.id, p]));
    const found = rows.map((r) => {
      const p = indexed.get(r.id);
      return p?.vector && p.indexedHash === r.hash ? p.vector : undefined;
    });
    const stale = rows.filter((_, i) => !found[i]);
    const fresh = stale.length > 0 ? await embedder.embedExamples(stale) : [];
    let s = 0;
    const nodes: TextNode[] = [];
    rows.forEach((r, i) => {
      const vector = found[i] ?? fresh[s++];
      const node = exampleNode(r);
      nodes.push(node);
      indexStruct.addNode(node);
      // 9 significant digits round-trip a float32 exactly, in about half the characters.
      vectors.embeddingDict[r.id] = Array.from(vector, (x) => +x.toPrecision(9));
      vectors.textIdToRefDocId[r.id] = r.id;
      // As SimpleVectorStore.add stores it: the node's metadata plus its ids, without the node JSON.
      const metadata = nodeToMetadata(node, true, undefined, false);
      delete metadata._node_content;
      vectors.metadataDict[r.id] = metadata;
    });
    await docStore.addDocuments(nodes, true);
    count += rows.length;
    last = rows[rows.length - 1].id;
    opts.onProgress?.(count, total);
  }

  const indexStore = new SimpleIndexStore();
  await indexStore.addIndexStruct(indexStruct);
  const dir = path.resolve(persistDir);
  await fs.mkdir(dir, { recursive: true });
  const files: string[] = [];
  const write = async (name: string, data: () => unknown) => {
    let json: string;
    try {
      json = JSON.stringify(data());
    } catch (err) {
      if (err instanceof RangeError) throw new Error(`${name} is too large for one JSON string (${count} examples): LlamaIndex's file layout cannot hold this agent`);
      throw err;
    }
    // Temp file and rename: a reader never sees half a file.
    const file = path.join(dir, name);
    await fs.writeFile(`${file}.tmp-${process.pid}`, json);
    await fs.rename(`${file}.tmp-${process.pid}`, file);
    files.push(file);
  };
  await write(DEFAULT_DOC_STORE_PERSIST_FILENAME, () => docKv.toDict());
  await write(DEFAULT_INDEX_STORE_PERSIST_FILENAME, () => indexStore.toDict());
  await write(DEFAULT_VECTOR_STORE_PERSIST_FILENAME, () => vectors);
  return { persistDir: dir, count, model, files };
}
