import fs from 'node:fs';
import path from 'node:path';
import type { z } from 'zod';
import { canRead, canWrite, ForbiddenError, type Access } from '../access/access.ts';
import { actorNameSql, recordAudit, type Actor } from '../audit/audit.ts';
import type { BuiltDataset, datasetSpec } from '../datasets/builder.ts';
import type { Queryable } from '../db/database.ts';
import { NotFoundError, ValidationError } from '../errors.ts';
import type { Exemplar } from '../exemplar.ts';
import { ExternalFineTuneBackend } from './backends/external.ts';
import { LocalFineTuneBackend } from './backends/local.ts';
import { OpenAIFineTuneBackend } from './backends/openai.ts';
import { loadFineTuneConfig, type FineTuneConfig } from './config.ts';
import { parseHyperparameters } from './hyperparameters.ts';
import { InvalidTransitionError, LogLimitError } from './errors.ts';
import { RunPoller } from './poller.ts';
import {
  ACTIVE_STATUSES,
  canTransition,
  isTerminal,
  RUN_STATUSES,
  type BackendName,
  type BackendRun,
  type BackendUpdate,
  type Run,
  type RunBackend,
  type RunFiles,
  type RunStatus,
} from './types.ts';

export interface CreateRunInput {
  backend: BackendName;
  baseModel: string;
  hyperparameters?: Record<string, unknown>;
  /** What to train on: the dataset builder's spec (agent, format, filters, split, ...). */
  dataset: z.input<typeof datasetSpec>;
  /** local: the training command for this run instead of EXEMPLAR_FINETUNE_COMMAND. */
  command?: string;
  /** external: the external system's id for its job. */
  externalId?: string;
}

export interface RunDetail extends Run {
  examples: { train: number; validation: number; total: number };
  /** Where the dataset files (and, for local runs, the config and output) are. */
  dir: string;
}

/** A change reported from outside (the external backend through `update_run`). */
export interface RunUpdate {
  status?: RunStatus;
  resultModel?: string;
  error?: string;
  logLines?: string[];
  externalId?: string;
}

const RUN_COLUMNS = `r.id::text, r.agent_id::text AS "agentId", a.name AS "agentName", r.backend, r.base_model AS "baseModel",
  r.hyperparameters, r.dataset_format AS "datasetFormat", r.dataset_sha256 AS "datasetSha256",
  r.validation_sha256 AS "validationSha256", r.status, r.status_history AS "statusHistory", r.external_id AS "externalId",
  r.result_model AS "resultModel", r.error, r.created_by AS "createdBy",
  ${actorNameSql('r.created_by')} AS "createdByName", r.created_at AS "createdAt",
  r.updated_at AS "updatedAt", r.finished_at AS "finishedAt", r.backend_state AS "backendState"`;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Fine-tuning runs: each records the base model, hyperparameters, the dataset's sha256s, every
 * example that went in (id, content hash, split), a status history, a log and the resulting model.
 * Statuses only move forward and terminal states are final.
 */
export class RunService {
  readonly config: FineTuneConfig;
  readonly backends: Record<BackendName, RunBackend>;
  /** The last error a background refresh hit (kept, not thrown). */
  lastError?: Error;
  private poller?: RunPoller;
  private readonly inFlight = new Map<string, Promise<void>>();

  constructor(
    private readonly app: Exemplar,
    config: Partial<FineTuneConfig> = {},
  ) {
    this.config = { ...loadFineTuneConfig(), ...dropUndefined(config) };
    const llm = app.config.llm;
    this.backends = {
      openai: new OpenAIFineTuneBackend({ apiKey: llm.openaiApiKey, baseURL: llm.openaiBaseUrl, timeoutMs: llm.timeoutMs }),
      local: new LocalFineTuneBackend({ command: this.config.command, onExit: () => this.poller?.kick() }),
      external: new ExternalFineTuneBackend(),
    };
  }

  /** Builds the dataset, records the run and its examples in one transaction, then starts the backend. */
  async create(input: CreateRunInput, actor: Actor, onProgress?: (done: number, total: number) => void): Promise<RunDetail> {
    const backend = this.backend(input.backend);
    // Known names, typed and bounded, whichever door (or caller) this came from.
    const hyperparameters = parseHyperparameters(input.hyperparameters ?? {});
    if (input.command !== undefined && input.backend !== 'local') throw new ValidationError('command', 'only local runs take a command');
    if (input.externalId !== undefined && input.backend !== 'external') throw new ValidationError('externalId', 'only external runs take an externalId');
    backend.check({ format: String(input.dataset.format), hyperparameters, command: input.command });
    const agent = await this.app.agents.resolve(input.dataset.agent);
    const { buildDataset } = await import('../datasets/builder.ts'); // the tokenizer loads only when a run starts
    const built = await buildDataset(this.app, input.dataset, onProgress);
    if (built.records.length === 0) throw new ValidationError('dataset', `the selection holds no examples of agent "${agent.name}"`);

    const id = await this.app.db.transaction(async (tx) => {
      const { rows } = await tx.query<{ id: string }>(
        `INSERT INTO fine_tuning_runs (agent_id, backend, base_model, hyperparameters, dataset_format, dataset_sha256,
                                       validation_sha256, status, status_history, external_id, backend_state, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending',
                 jsonb_build_array(jsonb_build_object('status', 'pending', 'at', to_jsonb(clock_timestamp()))), $8, $9, $10)
         RETURNING id::text`,
        [
          agent.id,
          input.backend,
          input.baseModel,
          hyperparameters,
          built.format,
          built.sha256.train,
          built.sha256.validation,
          input.externalId ?? null,
          input.command ? { command: input.command } : {},
          actor,
        ],
      );
      const runId = rows[0].id;
      await tx.query(
        `INSERT INTO run_examples (run_id, example_id, content_hash, split)
         SELECT $1, e.id, e.hash, e.split FROM unnest($2::uuid[], $3::text[], $4::text[]) AS e (id, hash, split)`,
        [runId, built.records.map((r) => r.id), built.records.map((r) => r.contentHash), built.records.map((r) => r.split)],
      );
      await recordAudit(tx, {
        actor,
        action: 'run.create',
        entityType: 'fine_tuning_run',
        entityId: runId,
        agentId: agent.id,
        details: {
          backend: input.backend,
          baseModel: input.baseModel,
          format: built.format,
          examples: built.records.length,
          datasetSha256: built.sha256.train,
          validationSha256: built.sha256.validation,
        },
      });
      return runId;
    });

    if (input.backend !== 'external') {
      try {
        const files = await this.writeFiles(id, built);
        const run = await this.backendRun(this.app.db, id);
        await this.apply(id, await backend.start(run, files), actor, { basis: run });
      } catch (err) {
        await this.apply(id, { status: 'failed', error: `could not start: ${err instanceof Error ? err.message : String(err)}` }, actor);
      }
    }
    return this.get(id);
  }

  /** An agent's runs, newest first. */
  async list(agentRef: string, opts: { status?: RunStatus; limit?: number } = {}): Promise<Run[]> {
    const agent = await this.app.agents.resolve(agentRef);
    const { rows } = await this.app.db.query<BackendRun>(
      `SELECT ${RUN_COLUMNS} FROM fine_tuning_runs r JOIN agents a ON a.id = r.agent_id
        WHERE r.agent_id = $1 AND ($2::text IS NULL OR r.status = $2)
        ORDER BY r.created_at DESC, r.id DESC LIMIT $3`,
      [agent.id, opts.status ?? null, opts.limit ?? 50],
    );
    return rows.map(publicRun);
  }

  /** One run, with how many examples went into each split. */
  async get(id: string): Promise<RunDetail> {
    const run = await this.backendRun(this.app.db, id);
    const { rows } = await this.app.db.query<{ split: 'train' | 'validation'; n: number }>(
      'SELECT split, count(*)::int AS n FROM run_examples WHERE run_id = $1 GROUP BY split',
      [id],
    );
    const count = (s: string) => rows.find((r) => r.split === s)?.n ?? 0;
    return {
      ...publicRun(run),
      examples: { train: count('train'), validation: count('validation'), total: count('train') + count('validation') },
      dir: this.runDir(id),
    };
  }

  /** The examples that went into a run: id, content hash and split. */
  async examples(id: string): Promise<{ exampleId: string; contentHash: string; split: 'train' | 'validation' }[]> {
    await this.backendRun(this.app.db, id);
    const { rows } = await this.app.db.query<{ exampleId: string; contentHash: string; split: 'train' | 'validation' }>(
      `SELECT example_id::text AS "exampleId", content_hash AS "contentHash", split FROM run_examples WHERE run_id = $1 ORDER BY split, example_id`,
      [id],
    );
    return rows;
  }

  /** The run's log from a character offset; `nextOffset` continues it. */
  async logs(id: string, opts: { offset?: number } = {}): Promise<{ id: string; status: RunStatus; logs: string; nextOffset: number }> {
    const offset = opts.offset ?? 0;
    const { rows } = await this.app.db.query<{ status: RunStatus; logs: string; length: number }>(
      `SELECT status, substr(logs, $2 + 1) AS logs, length(logs) AS length FROM fine_tuning_runs WHERE id = $1`,
      [this.checkId(id), offset],
    );
    if (rows.length === 0) throw new NotFoundError('run', id);
    return { id, status: rows[0].status, logs: rows[0].logs, nextOffset: Math.max(offset, rows[0].length) };
  }

  /** Stops a run: asks its backend to cancel, then marks it cancelled. A finished run cannot be cancelled. */
  async cancel(id: string, actor: Actor): Promise<RunDetail> {
    const run = await this.backendRun(this.app.db, id);
    if (!canTransition(run.status, 'cancelled')) throw new InvalidTransitionError(id, run.status, 'cancelled');
    const reply = await this.backend(run.backend).cancel(run);
    await this.apply(id, { logLines: reply.logLines, state: reply.state, status: 'cancelled' }, actor, { strict: true });
    return this.get(id);
  }

  /** What an external system reports about its run. Refused for runs Exemplar's own backends follow. */
  async update(id: string, update: RunUpdate, actor: Actor): Promise<RunDetail> {
    const run = await this.backendRun(this.app.db, id);
    if (run.backend !== 'external') {
      throw new InvalidTransitionError(id, run.status, `${update.status ?? run.status} (only external runs are updated through the API; ${run.backend} runs are followed by the poller)`);
    }
    this.checkLogUpdate(update.logLines ?? []);
    await this.apply(id, update, actor, { strict: true, refuseOverLimit: true });
    return this.get(id);
  }

  /** Refuses more log lines in one update than EXEMPLAR_FINETUNE_LOG_LINES_PER_UPDATE / _BYTES_PER_UPDATE allow. */
  private checkLogUpdate(lines: string[]): void {
    const { logLinesPerUpdate, logBytesPerUpdate } = this.config;
    if (lines.length > logLinesPerUpdate) throw new LogLimitError('lines in one update', lines.length, logLinesPerUpdate, 'EXEMPLAR_FINETUNE_LOG_LINES_PER_UPDATE');
    let bytes = 0;
    for (const line of lines) bytes += Buffer.byteLength(line, 'utf8') + 1;
    if (bytes > logBytesPerUpdate) throw new LogLimitError('bytes in one update', bytes, logBytesPerUpdate, 'EXEMPLAR_FINETUNE_LOG_BYTES_PER_UPDATE');
  }

  /** Asks the run's backend what changed and records it. Safe to call from several places at once. */
  async refresh(id: string): Promise<void> {
    const pending = this.inFlight.get(id);
    if (pending) return pending;
    const work = (async () => {
      const run = await this.backendRun(this.app.db, id);
      if (isTerminal(run.status) || run.backend === 'external') return;
      const update = await this.backend(run.backend).poll(run);
      await this.apply(id, update, 'system', { basis: run });
    })().finally(() => this.inFlight.delete(id));
    this.inFlight.set(id, work);
    return work;
  }

  /** Runs a backend still follows (not finished, not external). */
  private async activeRuns(): Promise<{ id: string; backend: string }[]> {
    const { rows } = await this.app.db.query<{ id: string; backend: string }>(
      `SELECT id::text, backend FROM fine_tuning_runs WHERE status = ANY($1::text[]) AND backend <> 'external' ORDER BY created_at`,
      [ACTIVE_STATUSES],
    );
    return rows;
  }

  /**
   * Refreshes every active run once; errors are kept in lastError and reported to `onError`.
   * Local runs are each followed by the replica whose process runs them (the backend ignores the
   * others). A remote job (OpenAI) is one replica's work per tick: on PostgreSQL, whichever takes
   * a transaction-scoped advisory lock first; the others skip the tick.
   */
  async refreshAll(onError?: (err: Error) => void): Promise<void> {
    const active = await this.activeRuns();
    const each = async (runs: { id: string }[]) => {
      for (const { id } of runs) {
        try {
          await this.refresh(id);
        } catch (err) {
          this.lastError = err as Error;
          onError?.(err as Error);
        }
      }
    };
    await each(active.filter((r) => r.backend === 'local'));
    const remote = active.filter((r) => r.backend !== 'local');
    if (remote.length === 0) return;
    if (this.app.db.kind !== 'postgres') return each(remote);
    await this.app.db.transaction(async (tx) => {
      // Advisory locks are per database: the key names the schema, so two installations never share one.
      const { rows } = await tx.query<{ mine: boolean }>(`SELECT pg_try_advisory_xact_lock(hashtext(current_schema() || '.exemplar_run_poller')) AS mine`);
      if (rows[0].mine) await each(remote);
    });
  }

  /** Starts the background poller (the server does); idempotent. */
  async startPoller(opts: { pollMs?: number; onError?: (err: Error) => void } = {}): Promise<RunPoller> {
    this.poller ??= new RunPoller(this, { pollMs: opts.pollMs ?? this.config.pollMs, onError: opts.onError });
    await this.poller.start();
    return this.poller;
  }

  async stopPoller(): Promise<void> {
    await this.poller?.stop();
    await Promise.allSettled([...this.inFlight.values()]);
  }

  /** Throws unless `access` may read (or change) the run; a run of an unreadable agent does not exist. */
  async authorize(id: string, access: Access, level: 'read' | 'write'): Promise<void> {
    if (access.admin) return;
    const run = await this.backendRun(this.app.db, id);
    if (!canRead(access, run.agentId)) throw new NotFoundError('run', id);
    if (level === 'write' && !canWrite(access, run.agentId)) throw new ForbiddenError(`this key may not change run ${id} (it has read access only)`);
  }

  runDir(id: string): string {
    return path.join(this.app.config.dataDir, 'runs', id);
  }

  private backend(name: string): RunBackend {
    const backend = this.backends[name as BackendName];
    if (!backend) throw new ValidationError('backend', `unknown backend "${name}" (use ${Object.keys(this.backends).join(', ')})`);
    return backend;
  }

  private async writeFiles(id: string, built: BuiltDataset): Promise<RunFiles> {
    const dir = this.runDir(id);
    await fs.promises.mkdir(dir, { recursive: true });
    const train = path.join(dir, 'train.jsonl');
    await fs.promises.writeFile(train, built.train);
    let validation: string | null = null;
    if (built.validation.length > 0) {
      validation = path.join(dir, 'validation.jsonl');
      await fs.promises.writeFile(validation, built.validation);
    }
    return { dir, train, validation };
  }

  /**
   * Records a backend's (or external system's) report in one transaction. With `basis` (the run as
   * the backend saw it), a report is dropped when someone else recorded a newer one meanwhile, so
   * two pollers never log the same lines twice. `strict` refuses a forbidden status change instead
   * of logging and ignoring it. A run's log keeps at most EXEMPLAR_FINETUNE_LOG_MAX_BYTES: past it,
   * `refuseOverLimit` (lines a client sent) refuses the update; otherwise (a backend's own output,
   * which a local run also keeps in its output.log) the lines are dropped with one note saying so.
   */
  private async apply(
    id: string,
    update: BackendUpdate,
    actor: Actor,
    opts: { basis?: BackendRun; strict?: boolean; refuseOverLimit?: boolean } = {},
  ): Promise<void> {
    if (update.status !== undefined && !RUN_STATUSES.includes(update.status)) throw new ValidationError('status', `unknown status "${update.status}"`);
    await this.app.db.transaction(async (tx) => {
      const run = await this.backendRun(tx, id, true);
      if (opts.basis && JSON.stringify(run.backendState) !== JSON.stringify(opts.basis.backendState)) return;
      const lines = [...(update.logLines ?? [])];
      let status: RunStatus | null = null;
      if (update.status !== undefined && update.status !== run.status) {
        if (canTransition(run.status, update.status)) status = update.status;
        else if (opts.strict) throw new InvalidTransitionError(id, run.status, update.status);
        else lines.push(`exemplar: ignored a change from ${run.status} to ${update.status}`);
      }
      if (isTerminal(run.status) && !status) {
        // A finished run keeps its result; only log lines may still arrive.
        update = { logLines: update.logLines };
      }
      let text = lines.length ? `${lines.map((l) => l.replace(/\r?\n$/, '')).join('\n')}\n` : '';
      if (text) text = await this.withinLogLimit(tx, id, text, opts.refuseOverLimit === true);
      await tx.query(
        `UPDATE fine_tuning_runs SET
           status = coalesce($2, status),
           status_history = CASE WHEN $2::text IS NULL THEN status_history
                                 ELSE status_history || jsonb_build_array(jsonb_build_object('status', $2::text, 'at', to_jsonb(clock_timestamp()))) END,
           finished_at = CASE WHEN $2::text IN ('succeeded', 'failed', 'cancelled') THEN clock_timestamp() ELSE finished_at END,
           external_id = coalesce($3, external_id),
           result_model = coalesce($4, result_model),
           error = coalesce($5, error),
           logs = logs || $6,
           backend_state = backend_state || $7::jsonb,
           updated_at = now()
         WHERE id = $1`,
        [id, status, update.externalId ?? null, update.resultModel ?? null, update.error ?? null, text, update.state ?? {}],
      );
      if (status) {
        await recordAudit(tx, {
          actor,
          action: 'run.status',
          entityType: 'fine_tuning_run',
          entityId: id,
          agentId: run.agentId,
          details: { from: run.status, to: status, ...(update.resultModel ? { resultModel: update.resultModel } : {}) },
        });
      }
    });
  }

  /** `text`, or what of it the run's log still has room for (see apply). */
  private async withinLogLimit(tx: Queryable, id: string, text: string, refuse: boolean): Promise<string> {
    const limit = this.config.logMaxBytes;
    const { rows } = await tx.query<{ bytes: number; tail: string }>(
      'SELECT octet_length(logs)::int AS bytes, right(logs, 200) AS tail FROM fine_tuning_runs WHERE id = $1',
      [id],
    );
    const used = rows[0]?.bytes ?? 0;
    const adding = Buffer.byteLength(text, 'utf8');
    if (used + adding <= limit) return text;
    if (refuse) throw new LogLimitError('bytes in the run\'s log', used + adding, limit, 'EXEMPLAR_FINETUNE_LOG_MAX_BYTES');
    const note = `exemplar: the log reached its limit of ${limit} bytes (EXEMPLAR_FINETUNE_LOG_MAX_BYTES); later lines are not kept here\n`;
    // The note is written once, even if it is what crosses the limit.
    if (rows[0]?.tail.endsWith(note)) return '';
    const room = limit - used - Buffer.byteLength(note, 'utf8');
    const lines = text.split('\n');
    let kept = '';
    let keptBytes = 0;
    for (const line of lines.slice(0, -1)) {
      const size = Buffer.byteLength(line, 'utf8') + 1;
      if (keptBytes + size > room) break;
      kept += `${line}\n`;
      keptBytes += size;
    }
    return kept + note;
  }

  private checkId(id: string): string {
    if (!UUID.test(id)) throw new ValidationError('id', `must be a run id (a UUID), got "${id}"`);
    return id;
  }

  private async backendRun(db: Queryable, id: string, lock = false): Promise<BackendRun> {
    const { rows } = await db.query<BackendRun>(
      `SELECT ${RUN_COLUMNS} FROM fine_tuning_runs r JOIN agents a ON a.id = r.agent_id WHERE r.id = $1${lock ? ' FOR UPDATE OF r' : ''}`,
      [this.checkId(id)],
    );
    if (rows.length === 0) throw new NotFoundError('run', id);
    return rows[0];
  }
}

function publicRun(run: BackendRun): Run {
  const { backendState: _state, ...rest } = run;
  return rest;
}

function dropUndefined<T extends object>(obj: T): Partial<T> {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined)) as Partial<T>;
}
