import {
  BaseVectorStore,
  FilterOperator,
  parseArrayValue,
  parseNumberValue,
  parsePrimitiveValue,
  VectorStoreQueryMode,
  type MetadataFilters,
  type VectorStoreQuery,
  type VectorStoreQueryResult,
} from '@llamaindex/core/vector-store';
import { MetadataMode, NodeRelationship, ObjectType, TextNode, type BaseNode } from '@llamaindex/core/schema';
import type { Actor } from '../audit/audit.ts';
import { ValidationError } from '../errors.ts';
import { validateExample, type NewExample } from '../examples/example.ts';
import type { Exemplar } from '../exemplar.ts';
import { l2normalize } from '../embeddings/normalize.ts';
import type { ExampleText } from '../embeddings/embedding.ts';
import { llamaIndexEmbedding } from './llamaindex-embedding.ts';
import type { Proposal } from '../indexing/vector-index.ts';
import { isUuid } from '../validation.ts';
import type { RowType } from './vector-table.ts';

/** The node metadata keys Exemplar fills, and reads back in `add()`. */
export interface ExampleNodeMetadata {
  prompt: string;
  completion: string;
  reward_score: number;
  example_type: RowType;
  [key: string]: unknown;
}

/** An example as a LlamaIndex node. */
export interface ExampleNodeSource {
  id: string;
  prompt: string;
  completion: string;
  reward: number;
  type: RowType;
}

/**
 * One example as a LlamaIndex `TextNode`, with the example's id as the node id.
 *
 * The text is the prompt, a blank line, then the completion: what an LLM reading retrieved context
 * needs to see. (Exemplar's vector is of the prompt alone.) The metadata carries the parts again,
 * hidden from the LLM and embed views so the text is not repeated there. The SOURCE relationship
 * names the example itself: each example is its own "document", so `delete(refDocId)` and
 * `deleteRefDoc` take an example id.
 */
export function exampleNode(e: ExampleNodeSource): TextNode {
  const metadata: ExampleNodeMetadata = { prompt: e.prompt, completion: e.completion, reward_score: e.reward, example_type: e.type };
  return new TextNode<Record<string, unknown>>({
    id_: e.id,
    text: `${e.prompt}\n\n${e.completion}`,
    metadata,
    excludedLlmMetadataKeys: ['prompt', 'completion'],
    excludedEmbedMetadataKeys: Object.keys(metadata),
    relationships: { [NodeRelationship.SOURCE]: { nodeId: e.id, nodeType: ObjectType.DOCUMENT, metadata: {} } },
  });
}

interface Hit extends Proposal {
  prompt: string;
  completion: string;
}

/**
 * One agent's Exemplar index as a LlamaIndex vector store, so LlamaIndex retrievers, query engines
 * and chat engines read it: `VectorStoreIndex.fromVectorStore(await ExemplarVectorStore.open(app, 'agent'))`.
 *
 * `query()` asks Exemplar's index (either backend: the in-memory exact scan or pgvector) for rows
 * by pure cosine similarity, then PostgreSQL has the last word on every row, as in
 * `hybridRetrieveBestExamples`: a deleted example never comes back, and text and scores are the
 * stored ones. `embedModel` is the agent's own provider, so queries are embedded with
 * the model the index was built with (LlamaIndex prefers `Settings.embedModel` when it is set:
 * set it to this store's `embedModel`).
 *
 * Filters: `reward_score` (==, !=, >, >=, <, <=) and `example_type` (==, !=, in, nin), joined by
 * "and". Anything else is refused rather than silently ignored.
 */
export class ExemplarVectorStore extends BaseVectorStore<Exemplar> {
  storesText = true;

  private constructor(
    readonly app: Exemplar,
    readonly agentId: string,
    /** The embedding model id the store was opened with; a changed agent model is refused in `query()`. */
    readonly model: string,
    embedModel: BaseVectorStore['embedModel'],
    private readonly actor: Actor,
  ) {
    super({ embedModel });
  }

  /** Opens the store for one agent (name or id). */
  static async open(app: Exemplar, agentRef: string, opts: { actor?: Actor } = {}): Promise<ExemplarVectorStore> {
    const agent = await app.agents.resolve(agentRef);
    const embedder = app.index.embedder(agent.embeddingModel);
    return new ExemplarVectorStore(app, agent.id, embedder.provider.modelId, llamaIndexEmbedding(embedder.provider), opts.actor ?? 'llamaindex');
  }

  client(): Exemplar {
    return this.app;
  }

  async query(query: VectorStoreQuery): Promise<VectorStoreQueryResult> {
    if (query.mode !== undefined && query.mode !== VectorStoreQueryMode.DEFAULT) {
      throw new ValidationError('mode', `ExemplarVectorStore supports the "default" query mode only, got "${query.mode}"`);
    }
    const agent = await this.app.agents.resolve(this.agentId);
    const embedder = this.app.index.embedder(agent.embeddingModel);
    if (embedder.provider.modelId !== this.model) {
      throw new ValidationError('embedModel', `the agent's embedding model changed from ${this.model} to ${embedder.provider.modelId}: open the store again`);
    }
    let q: Float32Array;
    if (query.queryEmbedding) q = l2normalize(Float32Array.from(query.queryEmbedding)); // the scan wants unit length
    else if (query.queryStr) [q] = await embedder.embed([query.queryStr]);
    else throw new ValidationError('queryEmbedding', 'give a query embedding or a query string');
    const k = query.similarityTopK;
    const f = compileFilters(query.filters);
    if (k <= 0 || f.types.length === 0) return { nodes: [], similarities: [], ids: [] };
    const scan = { minReward: f.minReward, types: f.types, alpha: 1, beta: 0 };

    const verify = (proposed: Proposal[]) => this.verify(proposed, f, q, (examples) => embedder.embedExamples(examples));
    let hits: Hit[];
    if (query.docIds) {
      const onlyIds = query.docIds.filter(isUuid); // example ids are UUIDs; other ids match nothing
      hits = onlyIds.length === 0 ? [] : await verify(await this.app.index.propose(agent, q, onlyIds.length, scan, { onlyIds }));
    } else {
      // Rows the database drops (deleted, or outside a filter the scan cannot apply) make room for more.
      for (let want = k; ; want *= 2) {
        const proposed = await this.app.index.propose(agent, q, want, scan);
        hits = await verify(proposed);
        if (hits.length >= k || proposed.length < want) break;
      }
    }
    hits.sort((x, y) => y.similarity - x.similarity || x.row - y.row);
    hits = hits.slice(0, k);
    return {
      nodes: hits.map((h) => exampleNode(h)),
      similarities: hits.map((h) => h.similarity),
      ids: hits.map((h) => h.id),
    };
  }

  /**
   * Adds nodes as examples of this agent and returns their example ids (Exemplar makes its own ids;
   * a node whose prompt and completion the agent already has returns the existing example's id).
   * Each node needs `reward_score` (0..1) and `example_type` ("positive" or "negative") in its
   * metadata, and `completion`; the prompt is `metadata.prompt`, else the node's text. Other
   * metadata keys become the example's metadata. Exemplar embeds the prompt itself, with the
   * agent's model; a node's own embedding is not used. All nodes are checked before any is added.
   */
  async add(nodes: BaseNode[]): Promise<string[]> {
    if (nodes.length === 0) return [];
    const examples: NewExample[] = nodes.map((node, i) => {
      const { prompt, completion, reward_score, example_type, ...rest } = node.metadata as Record<string, unknown>;
      const where = `node ${i} (${node.id_})`;
      if (reward_score === undefined || example_type === undefined || typeof completion !== 'string') {
        throw new ValidationError(
          'metadata',
          `${where}: Exemplar needs metadata.reward_score (0..1), metadata.example_type ("positive" or "negative") and metadata.completion (string) to store a node as an example`,
        );
      }
      try {
        return validateExample(
          { prompt: prompt ?? node.getContent(MetadataMode.NONE), completion, rewardScore: reward_score, exampleType: example_type, metadata: rest },
          this.app.config,
        );
      } catch (err) {
        if (err instanceof Error) err.message = `${where}: ${err.message}`;
        throw err;
      }
    });
    await this.app.examples.addMany(this.agentId, examples, this.actor);
    // Ids by content, so duplicates (already stored, or repeated among the nodes) get theirs too.
    const { rows } = await this.app.db.query<{ i: number; id: string }>(
      `SELECT u.i::int AS i, e.id::text AS id
         FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS u(p, c, i)
         JOIN training_examples e ON e.agent_id = $1 AND e.content_hash = exemplar_content_hash(u.p, u.c)`,
      [this.agentId, examples.map((e) => e.prompt), examples.map((e) => e.completion)],
    );
    const ids = new Array<string>(examples.length);
    for (const r of rows) ids[r.i - 1] = r.id;
    // Make them searchable now, as a vector store's caller expects after add().
    await this.app.index.catchUp([this.agentId]);
    return ids;
  }

  /** Deletes the example with this id (its own ref doc id). An id this agent does not have is a no-op, as in LlamaIndex's stores. */
  async delete(refDocId: string): Promise<void> {
    if (!isUuid(refDocId)) return;
    const { rows } = await this.app.db.query('SELECT 1 FROM training_examples WHERE id = $1 AND agent_id = $2', [refDocId, this.agentId]);
    if (rows.length === 0) return;
    await this.app.examples.delete([refDocId], this.actor);
  }

  /** Re-reads the proposals from PostgreSQL with the filters applied; re-scores stale vectors. */
  private async verify(proposed: Proposal[], f: CompiledFilters, query: Float32Array, embed: (examples: ExampleText[]) => Promise<Float32Array[]>): Promise<Hit[]> {
    if (proposed.length === 0) return [];
    const { rows } = await this.app.db.query<{ id: string; prompt: string; completion: string; reward: number; type: RowType; hash: string }>(
      `SELECT id::text, prompt, completion, reward_score AS reward, example_type AS type, left(content_hash, 16) AS hash
         FROM training_examples
        WHERE id = ANY($1::uuid[]) AND agent_id = $2${f.where.map((w) => ` AND ${w}`).join('')}`,
      [proposed.map((p) => p.id), this.agentId, ...f.params],
    );
    const byId = new Map(rows.map((r) => [r.id, r]));
    const hits: Hit[] = [];
    const stale: Hit[] = [];
    for (const p of proposed) {
      const r = byId.get(p.id);
      if (!r) continue;
      const h: Hit = { ...p, reward: r.reward, type: r.type, prompt: r.prompt, completion: r.completion };
      if (r.hash !== p.indexedHash) stale.push(h);
      hits.push(h);
    }
    if (stale.length > 0) {
      // The prompt changed since it was indexed: score it with a fresh embedding of the same model.
      const vectors = await embed(stale);
      stale.forEach((h, i) => {
        h.similarity = vectors[i].reduce((s, x, j) => s + x * query[j], 0);
        h.hybrid = h.similarity;
      });
    }
    return hits;
  }
}

interface CompiledFilters {
  /** For the scan: a lower bound on reward, and the types that can pass. */
  minReward: number;
  types: RowType[];
  /** For PostgreSQL, which applies every filter exactly. Parameters start at $3. */
  where: string[];
  params: unknown[];
}

const SQL_COMPARE: Partial<Record<string, string>> = { '==': '=', '!=': '<>', '>': '>', '>=': '>=', '<': '<', '<=': '<=' };

function unsupported(key: string, operator: string): never {
  throw new ValidationError('filters', `ExemplarVectorStore cannot filter ${key} ${operator}: it filters reward_score (==, !=, >, >=, <, <=) and example_type (==, !=, in, nin)`);
}

function compileFilters(filters: MetadataFilters | undefined): CompiledFilters {
  const out: CompiledFilters = { minReward: 0, types: ['positive', 'negative'], where: [], params: [] };
  const list = filters?.filters ?? [];
  if (filters?.condition === 'or' && list.length > 1) {
    throw new ValidationError('filters', 'ExemplarVectorStore joins filters with "and" only');
  }
  const param = (v: unknown) => `$${out.params.push(v) + 2}`;
  for (const { key, operator, value } of list) {
    if (key === 'reward_score') {
      const op = SQL_COMPARE[operator];
      if (!op) return unsupported(key, operator);
      const v = parseNumberValue(value);
      out.where.push(`reward_score ${op} ${param(v)}`);
      if (operator === '==' || operator === '>' || operator === '>=') out.minReward = Math.max(out.minReward, v);
    } else if (key === 'example_type') {
      let keep: (t: RowType) => boolean;
      if (operator === FilterOperator.EQ || operator === FilterOperator.NE) {
        const v = String(parsePrimitiveValue(value));
        out.where.push(`example_type ${SQL_COMPARE[operator]} ${param(v)}`);
        keep = operator === FilterOperator.EQ ? (t) => t === v : (t) => t !== v;
      } else if (operator === FilterOperator.IN || operator === FilterOperator.NIN) {
        const vs = parseArrayValue(value).map(String);
        out.where.push(operator === FilterOperator.IN ? `example_type = ANY(${param(vs)}::text[])` : `example_type <> ALL(${param(vs)}::text[])`);
        keep = operator === FilterOperator.IN ? (t) => vs.includes(t) : (t) => !vs.includes(t);
      } else {
        return unsupported(key, operator);
      }
      out.types = out.types.filter((t) => keep(t));
    } else {
      return unsupported(key, operator);
    }
  }
  return out;
}
