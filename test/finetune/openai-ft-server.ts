import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A real HTTP server on 127.0.0.1 that speaks OpenAI's Files and fine_tuning.jobs wire format
 * (POST /v1/files multipart, POST /v1/fine_tuning/jobs, GET /v1/fine_tuning/jobs/{id},
 * GET /v1/fine_tuning/jobs/{id}/events, POST /v1/fine_tuning/jobs/{id}/cancel), so tests drive
 * the official SDK over the network. Each GET of a job advances it one step along its plan.
 */
export const FT_TEST_KEY = 'sk-test-finetune-SECRET-0123456789';

export interface UploadedFile {
  id: string;
  filename: string;
  purpose: string;
  content: string;
  sha256: string;
}

export interface JobPlan {
  /** Statuses the job goes through, one per retrieve (the first is its status at creation). */
  statuses: string[];
  fineTunedModel?: string;
  error?: { code: string; message: string; param: string | null };
}

interface Job {
  id: string;
  body: any;
  plan: JobPlan;
  step: number;
  status: string;
  created_at: number;
  events: { id: string; object: 'fine_tuning.job.event'; created_at: number; level: 'info' | 'warn' | 'error'; message: string; type: 'message' }[];
}

export interface LocalFineTuneServer {
  baseURL: string;
  files: Map<string, UploadedFile>;
  jobs: Map<string, Job>;
  /** The plan for the next job created. */
  nextPlan: JobPlan;
  requests: { method: string; path: string; auth: string | undefined }[];
  close(): Promise<void>;
}

export async function startFineTuneServer(): Promise<LocalFineTuneServer> {
  let seq = 0;
  const state: LocalFineTuneServer = {
    baseURL: '',
    files: new Map(),
    jobs: new Map(),
    nextPlan: { statuses: ['validating_files', 'queued', 'running', 'succeeded'], fineTunedModel: 'ft:gpt-4o-mini:exemplar::abc123' },
    requests: [],
    close: async () => {},
  };
  const now = () => Math.floor(Date.now() / 1000);
  const jobJson = (job: Job) => ({
    id: job.id,
    object: 'fine_tuning.job',
    model: job.body.model,
    created_at: job.created_at,
    finished_at: ['succeeded', 'failed', 'cancelled'].includes(job.status) ? now() : null,
    fine_tuned_model: job.status === 'succeeded' ? (job.plan.fineTunedModel ?? null) : null,
    organization_id: 'org-test',
    result_files: [],
    status: job.status,
    validation_file: job.body.validation_file ?? null,
    training_file: job.body.training_file,
    hyperparameters: { n_epochs: 'auto', batch_size: 'auto', learning_rate_multiplier: 'auto' },
    trained_tokens: job.status === 'succeeded' ? 1234 : null,
    error: job.status === 'failed' ? (job.plan.error ?? { code: 'invalid_training_file', message: 'failed', param: 'training_file' }) : null,
    seed: 42,
    estimated_finish: null,
    integrations: null,
    metadata: job.body.metadata ?? null,
    method: job.body.method ?? { type: 'supervised', supervised: {} },
    user_provided_suffix: job.body.suffix ?? null,
  });
  const addEvent = (job: Job, message: string, level: 'info' | 'error' = 'info') =>
    job.events.push({ id: `ftevent-${++seq}`, object: 'fine_tuning.job.event', created_at: now(), level, message, type: 'message' });

  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks);
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    state.requests.push({ method: req.method ?? '', path: url.pathname, auth: req.headers.authorization });
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const notFound = () => send(404, { error: { message: `not found: ${url.pathname}`, type: 'invalid_request_error', param: null, code: null } });
    if (req.headers.authorization !== `Bearer ${FT_TEST_KEY}`) {
      return send(401, { error: { message: 'Incorrect API key provided', type: 'invalid_request_error', param: null, code: 'invalid_api_key' } });
    }
    try {
      if (req.method === 'POST' && url.pathname === '/v1/files') {
        const form = await new Request('http://x/', { method: 'POST', headers: { 'content-type': req.headers['content-type']! }, body: raw }).formData();
        const file = form.get('file') as File;
        const purpose = String(form.get('purpose'));
        const content = Buffer.from(await file.arrayBuffer());
        const id = `file-${++seq}`;
        state.files.set(id, { id, filename: file.name, purpose, content: content.toString('utf8'), sha256: createHash('sha256').update(content).digest('hex') });
        return send(200, { id, object: 'file', bytes: content.length, created_at: now(), filename: file.name, purpose, status: 'processed' });
      }
      if (req.method === 'POST' && url.pathname === '/v1/fine_tuning/jobs') {
        const body = JSON.parse(raw.toString('utf8'));
        if (!state.files.has(body.training_file)) {
          return send(400, { error: { message: `invalid training_file: ${body.training_file}`, type: 'invalid_request_error', param: 'training_file', code: null } });
        }
        const plan = state.nextPlan;
        const job: Job = { id: `ftjob-${++seq}`, body, plan, step: 0, status: plan.statuses[0], created_at: now(), events: [] };
        addEvent(job, `Created fine-tuning job: ${job.id}`);
        state.jobs.set(job.id, job);
        return send(200, jobJson(job));
      }
      const m = /^\/v1\/fine_tuning\/jobs\/([^/]+)(\/events|\/cancel)?$/.exec(url.pathname);
      const job = m ? state.jobs.get(m[1]) : undefined;
      if (!m || !job) return notFound();
      if (req.method === 'GET' && !m[2]) {
        if (job.step < job.plan.statuses.length - 1 && job.status !== 'cancelled') {
          job.step++;
          job.status = job.plan.statuses[job.step];
          if (job.status === 'running') addEvent(job, 'Step 1/10: training loss=1.23');
          if (job.status === 'succeeded') addEvent(job, 'The job has successfully completed');
          if (job.status === 'failed') addEvent(job, job.plan.error?.message ?? 'failed', 'error');
        }
        return send(200, jobJson(job));
      }
      if (req.method === 'GET' && m[2] === '/events') {
        const data = [...job.events].reverse().slice(0, Number(url.searchParams.get('limit') ?? 20));
        return send(200, { object: 'list', data, has_more: false });
      }
      if (req.method === 'POST' && m[2] === '/cancel') {
        if (['succeeded', 'failed', 'cancelled'].includes(job.status)) {
          return send(400, { error: { message: `job ${job.id} has already ${job.status}`, type: 'invalid_request_error', param: null, code: null } });
        }
        job.status = 'cancelled';
        addEvent(job, 'Fine-tuning job cancelled');
        return send(200, jobJson(job));
      }
      return notFound();
    } catch (err) {
      return send(500, { error: { message: String(err), type: 'server_error', param: null, code: null } });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.baseURL = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  state.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return state;
}
