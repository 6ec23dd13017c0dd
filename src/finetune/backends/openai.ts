import fs from 'node:fs';
import path from 'node:path';
import type OpenAI from 'openai';
import { redactUrl } from '../../config/config.ts';
import { ValidationError } from '../../errors.ts';
import { OPENAI_DEFAULT_BASE_URL } from '../../config/providers.ts';
import { hostOf, isRetryableStatus, scrub, withRetries, type RetryPolicy } from '../../remote/retry.ts';
import { FineTuneBackendError } from '../errors.ts';
import { checkNames, OPENAI_DPO_HYPERPARAMETERS, OPENAI_JOB_OPTIONS, OPENAI_SUPERVISED_HYPERPARAMETERS, parseHyperparameters } from '../hyperparameters.ts';
import type { BackendRun, BackendUpdate, RunBackend, RunFiles, RunStatus } from '../types.ts';

export interface OpenAIBackendOptions {
  apiKey?: string;
  baseURL?: string;
  timeoutMs?: number;
  retry?: Partial<RetryPolicy>;
}

/** OpenAI's job statuses, mapped to ours. */
export const OPENAI_STATUS: Record<string, RunStatus> = {
  validating_files: 'validating',
  queued: 'queued',
  running: 'running',
  succeeded: 'succeeded',
  failed: 'failed',
  cancelled: 'cancelled',
};

/** Job-level options passed beside the method's hyperparameters. */
const JOB_KEYS: readonly string[] = OPENAI_JOB_OPTIONS;

/**
 * OpenAI fine-tuning through the official SDK: uploads the JSONL files (purpose fine-tune), creates
 * a job with method supervised (or dpo for openai-dpo datasets), polls it, copies its events into
 * the run's log and cancels it. Any server speaking the same API works through OPENAI_BASE_URL.
 * The key lives in an ES private field and is scrubbed from every message.
 */
export class OpenAIFineTuneBackend implements RunBackend {
  readonly name = 'openai' as const;
  readonly #apiKey: string | undefined;
  readonly #baseURL: string;
  readonly #timeoutMs: number;
  readonly #retry: RetryPolicy;
  #client?: OpenAI;
  /** The SDK, loaded by the first call: a server that never fine-tunes on OpenAI never pays for it. */
  #sdk?: typeof import('openai');

  constructor(options: OpenAIBackendOptions = {}) {
    this.#apiKey = options.apiKey || undefined;
    this.#baseURL = options.baseURL || OPENAI_DEFAULT_BASE_URL;
    this.#timeoutMs = options.timeoutMs ?? 120_000;
    this.#retry = { maxRetries: 4, baseDelayMs: 1000, maxDelayMs: 60_000, ...options.retry };
  }

  check({ format, hyperparameters }: { format: string; hyperparameters: Record<string, unknown> }): void {
    if (format !== 'openai-sft' && format !== 'openai-dpo') {
      throw new ValidationError('format', `the openai backend takes openai-sft or openai-dpo datasets, not ${format}`);
    }
    checkNames(
      parseHyperparameters(hyperparameters),
      [...(format === 'openai-dpo' ? OPENAI_DPO_HYPERPARAMETERS : OPENAI_SUPERVISED_HYPERPARAMETERS), ...OPENAI_JOB_OPTIONS],
      `OpenAI ${format}`,
    );
  }

  async start(run: BackendRun, files: RunFiles): Promise<BackendUpdate> {
    const client = await this.client();
    const { toFile } = this.#sdk!;
    const upload = async (file: string) => {
      const bytes = await fs.promises.readFile(file);
      const created = await this.call(async () =>
        client.files.create({ file: await toFile(bytes, `${run.id}-${path.basename(file)}`, { type: 'application/jsonl' }), purpose: 'fine-tune' }),
      );
      return created.id;
    };
    const trainingFile = await upload(files.train);
    const validationFile = files.validation ? await upload(files.validation) : undefined;
    const hp = run.hyperparameters;
    const methodHp = Object.fromEntries(Object.entries(hp).filter(([k]) => !JOB_KEYS.includes(k)));
    const method: OpenAI.FineTuning.JobCreateParams.Method =
      run.datasetFormat === 'openai-dpo'
        ? { type: 'dpo', dpo: { hyperparameters: methodHp } }
        : { type: 'supervised', supervised: { hyperparameters: methodHp } };
    const job = await this.call(() =>
      client.fineTuning.jobs.create({
        model: run.baseModel,
        training_file: trainingFile,
        ...(validationFile ? { validation_file: validationFile } : {}),
        method,
        ...(typeof hp.suffix === 'string' ? { suffix: hp.suffix } : {}),
        ...(typeof hp.seed === 'number' ? { seed: hp.seed } : {}),
        metadata: { exemplar_run: run.id },
      }),
    );
    return {
      externalId: job.id,
      state: { trainingFile, ...(validationFile ? { validationFile } : {}) },
      logLines: [`openai: uploaded ${trainingFile}${validationFile ? ` and ${validationFile}` : ''}; created job ${job.id} (method ${method.type})`],
      ...this.fromJob(job),
    };
  }

  async poll(run: BackendRun): Promise<BackendUpdate> {
    if (!run.externalId) return {};
    const client = await this.client();
    const job = await this.call(() => client.fineTuning.jobs.retrieve(run.externalId!));
    // Events come newest first; take those after the last one we logged, oldest first.
    const lastEventId = run.backendState.lastEventId;
    const fresh: OpenAI.FineTuning.FineTuningJobEvent[] = [];
    const page = await this.call(() => client.fineTuning.jobs.listEvents(run.externalId!, { limit: 100 }));
    for (const event of page.data) {
      if (event.id === lastEventId) break;
      fresh.push(event);
    }
    fresh.reverse();
    return {
      ...this.fromJob(job),
      logLines: fresh.map((e) => `${new Date(e.created_at * 1000).toISOString()} ${e.level}: ${this.clean(e.message)}`),
      ...(fresh.length ? { state: { lastEventId: fresh[fresh.length - 1].id } } : {}),
    };
  }

  async cancel(run: BackendRun): Promise<BackendUpdate> {
    if (!run.externalId) return {};
    const client = await this.client();
    const job = await this.call(() => client.fineTuning.jobs.cancel(run.externalId!));
    return { logLines: [`openai: cancelled job ${job.id} (status ${job.status})`] };
  }

  private fromJob(job: OpenAI.FineTuning.FineTuningJob): BackendUpdate {
    const status = OPENAI_STATUS[job.status];
    return {
      ...(status ? { status } : {}),
      ...(job.fine_tuned_model ? { resultModel: job.fine_tuned_model } : {}),
      ...(job.status === 'failed'
        ? { error: this.clean(job.error?.message || 'the job failed without a message') + (job.error?.code ? ` (${job.error.code})` : '') }
        : {}),
    };
  }

  private clean(text: string): string {
    return scrub(text, this.#apiKey);
  }

  private async client(): Promise<OpenAI> {
    if (!this.#client) {
      if (!this.#apiKey && hostOf(this.#baseURL) === hostOf(OPENAI_DEFAULT_BASE_URL)) {
        throw new FineTuneBackendError('openai: no API key; set OPENAI_API_KEY (or OPENAI_BASE_URL for a compatible server)', { envVar: 'OPENAI_API_KEY' });
      }
      this.#sdk ??= await import('openai');
      this.#client = new this.#sdk.default({ apiKey: this.#apiKey ?? 'not-needed', baseURL: this.#baseURL, timeout: this.#timeoutMs, maxRetries: 0 });
    }
    return this.#client;
  }

  private call<T>(fn: () => Promise<T>): Promise<T> {
    return withRetries(
      fn,
      (err) => {
        const sdk = this.#sdk!; // a call runs only once the client, and so the SDK, exists
        if (err instanceof sdk.APIConnectionError) return { retryable: true };
        if (err instanceof sdk.APIError) return { retryable: isRetryableStatus(err.status), headers: err.headers };
        return { retryable: false };
      },
      this.#retry,
      (err, attempts) => {
        const { APIError } = this.#sdk!;
        const apiMessage = err instanceof APIError ? (err.error as { message?: unknown } | undefined)?.message : undefined;
        const message = typeof apiMessage === 'string' ? apiMessage : err instanceof Error ? err.message : String(err);
        const status = err instanceof APIError && err.status ? ` ${err.status}` : '';
        return new FineTuneBackendError(
          this.clean(`openai fine-tuning at ${redactUrl(this.#baseURL)} failed${status} after ${attempts} attempt${attempts === 1 ? '' : 's'}: ${message}`),
          { status: err instanceof APIError ? err.status : undefined },
        );
      },
    );
  }
}
