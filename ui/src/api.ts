// The REST API client. The key lives in sessionStorage only and goes out only as a bearer header.
const KEY = 'exemplar.apiKey';

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string,
  ) {
    super(message);
  }
}

export function getKey(): string | null {
  return sessionStorage.getItem(KEY);
}
export function setKey(key: string): void {
  sessionStorage.setItem(KEY, key.trim());
}
export function clearKey(): void {
  sessionStorage.removeItem(KEY);
}

/** `#key=...` in the URL (a fragment, so it never reaches the server): store it and drop it from the address bar. */
export function takeKeyFromFragment(): void {
  const m = /(?:^#|&)key=([^&]+)/.exec(location.hash);
  if (!m) return;
  setKey(decodeURIComponent(m[1]));
  history.replaceState(null, '', location.pathname + location.search);
}

const listeners = new Set<() => void>();
/** Called when the server rejects the key (401), so the app can ask for another. */
export function onUnauthorized(fn: () => void): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

type Query = Record<string, string | number | boolean | undefined | null>;

function url(path: string, query?: Query): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined && v !== null && v !== '') params.set(k, String(v));
  const qs = params.toString();
  return qs ? `${path}?${qs}` : path;
}

async function failure(status: number, text: string): Promise<ApiError> {
  let message = `request failed (HTTP ${status})`;
  let code = 'http_error';
  try {
    const body = JSON.parse(text) as { error?: { code?: string; message?: string } };
    if (body.error?.message) message = body.error.message;
    if (body.error?.code) code = body.error.code;
  } catch {
    /* not JSON */
  }
  if (status === 401) {
    clearKey();
    listeners.forEach((fn) => fn());
  }
  return new ApiError(message, status, code);
}

export async function api<T>(method: string, path: string, body?: unknown, query?: Query): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  const key = getKey();
  if (key) headers.authorization = `Bearer ${key}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(url(path, query), { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError('cannot reach the server', 0, 'network');
  }
  const text = await res.text();
  if (!res.ok) throw await failure(res.status, text);
  return JSON.parse(text) as T;
}

/** A POST whose upload progress is reported (fetch cannot), for file imports. */
export function postWithProgress<T>(path: string, body: unknown, onUpload: (loaded: number, total: number) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', path);
    const key = getKey();
    if (key) xhr.setRequestHeader('authorization', `Bearer ${key}`);
    xhr.setRequestHeader('content-type', 'application/json');
    xhr.setRequestHeader('accept', 'application/json');
    xhr.upload.onprogress = (e) => onUpload(e.loaded, e.lengthComputable ? e.total : 0);
    xhr.onerror = () => reject(new ApiError('cannot reach the server', 0, 'network'));
    xhr.onload = async () => {
      if (xhr.status >= 200 && xhr.status < 300) resolve(JSON.parse(xhr.responseText) as T);
      else reject(await failure(xhr.status, xhr.responseText));
    };
    xhr.send(JSON.stringify(body));
  });
}

/** Which routes this server has (from /openapi.json, which needs no key), so optional tabs can degrade. */
let routes: Promise<Set<string>> | null = null;
export function availableRoutes(): Promise<Set<string>> {
  routes ??= fetch('/openapi.json')
    .then((r) => r.json() as Promise<{ paths?: Record<string, Record<string, unknown>> }>)
    .then((doc) => new Set(Object.entries(doc.paths ?? {}).flatMap(([p, ms]) => Object.keys(ms).map((m) => `${m.toUpperCase()} ${p}`))))
    .catch(() => new Set<string>());
  return routes;
}

export const enc = encodeURIComponent;

// The JSON shapes of the routes the UI uses (see /openapi.json).
export interface Agent {
  id: string;
  name: string;
  description: string;
  similarityWeight: number;
  scoreWeight: number;
  embeddingModel: string;
  exampleCount: number;
  createdAt: string;
  updatedAt: string;
}
export type ExampleType = 'positive' | 'negative';
export interface Example {
  id: string;
  agentId: string;
  prompt: string;
  completion: string;
  rewardScore: number;
  exampleType: ExampleType;
  metadata: Record<string, unknown>;
  createdAt: string;
  updatedAt: string;
}
export interface ImportResult {
  lines: number;
  added: number;
  duplicates: number;
  invalid: number;
  problems: { line: number; field: string; message: string }[];
}
export interface SearchResult {
  id: string;
  input: string;
  output: string;
  score: number;
  /** null when the search had no query. */
  similarity: number | null;
  hybridScore: number | null;
  rank: number;
  exampleType: ExampleType;
}
export interface SearchResponse {
  results: SearchResult[];
  similarityWeight: number;
  scoreWeight: number;
  model: string;
}
export interface Judgment {
  query: string;
  exampleId: string;
  grade: number;
  judgedBy: string;
  judgedAt: string;
}
export interface RelevanceMetrics {
  similarityWeight: number;
  scoreWeight: number;
  hitAt1: number;
  hitAt5: number;
  mrrAt10: number;
  ndcgAt10: number;
}
export interface TuneResult {
  questions: number;
  grid: RelevanceMetrics[];
  current: RelevanceMetrics;
  best: RelevanceMetrics;
  applied: boolean;
}
export interface PromptVersion {
  version: number;
  content: string;
  source: 'manual' | 'optimized' | 'rollback';
  model: string | null;
  basedOnVersion: number | null;
  exampleIds: string[];
  note: string;
  createdBy: string;
  createdAt: string;
  labels: string[];
}
export interface PromptDiff {
  from: number;
  to: number;
  unified: string;
  words: { value: string; added?: boolean; removed?: boolean }[];
}
export interface OptimizeResult {
  method: string;
  examplesUsed: number;
  retrievalStrategy: string;
  version: number | null;
  label: string | null;
  basedOnVersion: number | null;
}
export interface IndexStatus {
  agentId: string;
  agentName: string;
  model: string;
  count: number | null;
  examples: number;
  lagChanges: number;
  lagSeconds: number;
  lastSync: string | null;
}
export interface Run {
  id: string;
  backend: string;
  baseModel: string;
  datasetFormat: string;
  status: string;
  statusHistory: { status: string; at: string }[];
  resultModel: string | null;
  error: string | null;
  createdAt: string;
  finishedAt: string | null;
  examples?: { train: number; validation: number; total: number };
}
