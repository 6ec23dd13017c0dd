import { z } from 'zod';
import { agentRefInput } from '../agents/agents.ts';
import { NotFoundError } from '../errors.ts';
import { MAX_EVAL_SET_SIZE } from '../evaluation/eval-sets.ts';
import { counted, defineOperation, toJson } from './operation.ts';

// Evaluate before promote (issue 15): eval sets, evaluation runs and their paired comparison.

const evalSetJson = z.object({
  id: z.string(),
  agent: z.string(),
  version: z.number().int(),
  seed: z.number().int(),
  requestedSize: z.number().int(),
  contentHash: z.string().describe('sha256 over the members and their content hashes'),
  items: z.number().int().describe('Positive examples whose prompts are asked'),
  contrasts: z.number().int().describe('Negative examples of the same prompts'),
  changed: z.number().int().describe('Members edited or deleted since the set was pinned'),
  createdBy: z.string(),
  createdAt: z.string(),
  members: z.array(z.object({ exampleId: z.string(), role: z.enum(['item', 'contrast']), contentHash: z.string(), changed: z.boolean() })),
});

const evalSetSummary = (s: z.output<typeof evalSetJson>) =>
  `Eval set version ${s.version} of ${s.agent}: ${counted(s.items, 'item')}, ${counted(s.contrasts, 'contrast')} (seed ${s.seed}, ${s.contentHash.slice(0, 12)})` +
  (s.changed ? `; ${counted(s.changed, 'member')} changed since it was pinned` : '');

export const createEvalSet = defineOperation({
  name: 'create_eval_set',
  title: 'Create an eval set',
  description:
    "Pins a seeded sample of an agent's positive examples (and the negatives of their prompts) as its eval set, held out from " +
    'optimization, few-shot and datasets. A new selection is a new version.',
  input: z.object({
    agent: agentRefInput,
    size: z.number().int().min(1).max(MAX_EVAL_SET_SIZE).optional().describe('Items (default: a fifth of the positives, at most 50)'),
    seed: z.number().int().min(0).max(2 ** 31 - 1).default(1).describe('Seed of the selection'),
  }),
  output: evalSetJson.extend({ created: z.boolean().describe('False when the latest version already held this selection') }),
  access: { agent: (i) => i.agent },
  http: { method: 'POST', path: '/v1/agents/{agent}/eval-sets' },
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true },
  cli: {
    command: 'eval set create',
    summary: (s) => `${s.created ? 'Created' : 'Unchanged:'} ${evalSetSummary(s)}.`,
    examples: ['exemplar eval set create --agent code-helper', 'exemplar eval set create --agent code-helper --size 100 --seed 7'],
  },
  run: async ({ agent, size, seed }, { app, actor }) => toJson(await app.evalSets.create(agent, { size, seed, actor })),
});

export const getEvalSet = defineOperation({
  name: 'get_eval_set',
  title: 'Get an eval set',
  description: "An agent's eval set (default: the latest version) with its members, and which changed since it was pinned.",
  input: z.object({ agent: agentRefInput, version: z.number().int().min(1).optional().describe('Default: the latest') }),
  output: evalSetJson,
  access: { agent: (i) => i.agent },
  http: { method: 'GET', path: '/v1/agents/{agent}/eval-set' },
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true },
  cli: {
    command: 'eval set show',
    summary: (s) => `${evalSetSummary(s)}.\n` + s.members.map((m) => `  ${m.role.padEnd(8)} ${m.exampleId}${m.changed ? '  (changed)' : ''}`).join('\n'),
    examples: ['exemplar eval set show --agent code-helper', 'exemplar eval set show --agent code-helper --version 1 --json'],
  },
  run: async ({ agent, version }, { app }) => toJson(await app.evalSets.get(agent, version)),
});

// Evaluation runs. The shapes mirror src/evaluation/run-types.ts (what the service returns), as JSON.

const interval = z.object({ confidence: z.number(), lower: z.number(), upper: z.number() });
const providerName = z.enum(['anthropic', 'openai']);
const checksJson = z.object({ contains: z.string().optional(), exact: z.boolean().optional(), regex: z.string().optional(), json: z.boolean().optional() });
const modelPrice = z.object({ inputPerMTok: z.number(), outputPerMTok: z.number(), source: z.enum(['list price', 'EXEMPLAR_LLM_PRICE']) });

const estimateJson = z.object({
  agent: z.string(),
  evalSetVersion: z.number().int(),
  promptVersion: z.number().int().nullable().describe('null: no system prompt'),
  provider: providerName,
  model: z.string(),
  judge: z.object({ provider: providerName, model: z.string() }).nullable(),
  items: z.number().int(),
  requests: z.object({ answers: z.number().int(), judge: z.number().int(), total: z.number().int(), cached: z.number().int() }),
  inputTokens: z.number().int(),
  outputTokens: z.number().int(),
  costUsd: z.number().nullable().describe('null when a price is unknown'),
  prices: z.object({ answer: modelPrice.nullable(), judge: modelPrice.nullable() }),
  notes: z.array(z.string()),
});

export const runSummaryJson = z.object({
  id: z.string(),
  agent: z.string(),
  evalSetId: z.string(),
  evalSetVersion: z.number().int(),
  promptVersion: z.number().int().nullable().describe('null: no system prompt'),
  promptContentHash: z.string(),
  provider: providerName,
  model: z.string(),
  judgeProvider: providerName.nullable(),
  judgeModel: z.string().nullable(),
  scoring: z.object({
    judge: z.object({ provider: providerName, model: z.string() }).nullable(),
    checks: checksJson,
    embeddingModel: z.string(),
    maxTokens: z.number().int(),
  }),
  scoringHash: z.string(),
  status: z.enum(['running', 'completed', 'failed']),
  error: z.string().nullable(),
  items: z.number().int(),
  scored: z.number().int(),
  failedItems: z.number().int(),
  cachedItems: z.number().int(),
  meanScore: z.number().nullable(),
  interval: interval.nullable(),
  meanSimilarity: z.number().nullable(),
  meanJudge: z.number().nullable(),
  inputTokens: z.number().int(),
  outputTokens: z.number().int(),
  estimatedCostUsd: z.number().nullable(),
  costUsd: z.number().nullable(),
  createdBy: z.string(),
  createdAt: z.string(),
  finishedAt: z.string().nullable(),
});

const scoresJson = z.object({
  similarity: z.number(),
  referenceCosine: z.number(),
  contrastCosine: z.number().nullable(),
  exact: z.number().optional(),
  contains: z.number().optional(),
  regex: z.number().optional(),
  json: z.number().optional(),
  judge: z.number().optional(),
});

const resultJson = z.object({
  exampleId: z.string(),
  prompt: z.string().nullable(),
  reference: z.string().nullable(),
  contrasts: z.array(z.string()),
  answer: z.string(),
  scores: scoresJson.nullable(),
  primaryScore: z.number().nullable(),
  verdict: z.enum(['answer', 'tie', 'reference']).nullable(),
  rationale: z.string().nullable(),
  error: z.string().nullable(),
  inputTokens: z.number().int(),
  outputTokens: z.number().int(),
  latencyMs: z.number(),
  cached: z.boolean(),
});

export const comparisonJson = z.object({
  n: z.number().int(),
  wins: z.number().int().describe('B scored higher than A'),
  ties: z.number().int(),
  losses: z.number().int(),
  meanA: z.number(),
  meanB: z.number(),
  meanDifference: z.number().describe('Mean of B − A'),
  interval,
  signTestP: z.number(),
});
const gateJson = z.object({ promote: z.boolean(), reason: z.string() });

const pairJson = z.object({
  exampleId: z.string(),
  prompt: z.string().nullable(),
  reference: z.string().nullable(),
  answerA: z.string(),
  answerB: z.string(),
  scoreA: z.number(),
  scoreB: z.number(),
  scoresA: scoresJson.nullable(),
  scoresB: scoresJson.nullable(),
  rationaleA: z.string().nullable(),
  rationaleB: z.string().nullable(),
  difference: z.number().describe('B − A'),
});

const evalComparisonJson = z.object({
  agent: z.string(),
  evalSetVersion: z.number().int(),
  a: runSummaryJson,
  b: runSummaryJson,
  comparison: comparisonJson,
  gate: gateJson,
  pairs: z.array(pairJson),
});

/**
 * A prompt version, "production" or "none" (no system prompt). Text first, so the CLI passes
 * `--version 3` through as text and zod reads it; JSON callers may send a number.
 */
const promptChoice = z
  .union([z.string().regex(/^([1-9][0-9]*|production|none)$/, 'must be a version number, production or none'), z.number().int().min(1)])
  .transform((v) => (typeof v === 'number' || /^[0-9]+$/.test(v) ? Number(v) : (v as 'production' | 'none')));

const percent = (x: number | null) => (x === null ? 'n/a' : x.toFixed(3));
const versionName = (v: number | null) => (v === null ? 'no system prompt' : `version ${v}`);
const runLine = (r: z.output<typeof runSummaryJson>) =>
  `Run ${r.id} (${versionName(r.promptVersion)}, eval set v${r.evalSetVersion}, ${r.provider}/${r.model}${r.judgeModel ? `, judge ${r.judgeModel}` : ', no judge'}): ` +
  `${r.status}, ${r.scored}/${r.items} scored, mean ${percent(r.meanScore)}` +
  (r.interval ? ` (${Math.round(r.interval.confidence * 100)}% ${percent(r.interval.lower)}–${percent(r.interval.upper)})` : '') +
  `${r.cachedItems ? `, ${r.cachedItems} from cache` : ''}${r.costUsd !== null ? `, $${r.costUsd.toFixed(4)}` : ''}${r.error ? `\n  error: ${r.error}` : ''}`;
const estimateLine = (e: z.output<typeof estimateJson>) =>
  `Dry run (${versionName(e.promptVersion)}): ${e.requests.total} requests (${e.requests.cached} cached), about ${e.inputTokens} tokens in and ${e.outputTokens} out, ` +
  `${e.costUsd === null ? 'cost unknown' : `about $${e.costUsd.toFixed(4)}`}.`;
const comparisonLine = (c: z.output<typeof evalComparisonJson>) =>
  `${versionName(c.b.promptVersion)} against ${versionName(c.a.promptVersion)} on eval set v${c.evalSetVersion}: ` +
  `${c.comparison.wins} wins, ${c.comparison.ties} ties, ${c.comparison.losses} losses; ${c.gate.promote ? 'the gate opens' : 'the gate stays shut'}: ${c.gate.reason}`;

export const runEvaluation = defineOperation({
  name: 'run_evaluation',
  rateLimit: 'heavy',
  title: 'Evaluate a prompt version',
  description:
    "Runs a prompt version on the agent's eval set (one model call per item), scores answers against the references (LLM judge, " +
    'similarity, optional checks) and stores the run; with against, evaluates that too and compares. Cached: reruns resume free. dryRun: estimate.',
  input: z.object({
    agent: agentRefInput,
    version: promptChoice.describe('Prompt version to evaluate: a number, production, or none'),
    against: promptChoice.optional().describe('Also evaluate and compare with this'),
    evalSet: z.number().int().min(1).optional().describe('Eval set version (default: latest)'),
    provider: providerName.optional(),
    model: z.string().min(1).optional(),
    judge: z.boolean().default(true).describe('LLM judge; false: offline scorers only'),
    judgeProvider: providerName.optional(),
    judgeModel: z.string().min(1).optional(),
    // Checks, each scored 1 or 0 per answer.
    contains: z.string().min(1).optional().describe('Answer contains this'),
    exact: z.boolean().optional().describe('Answer equals the reference'),
    regex: z.string().min(1).max(500).optional(),
    json: z.boolean().optional().describe('Answer is JSON'),
    concurrency: z.number().int().min(1).max(16).default(4),
    maxTokens: z.number().int().min(1).max(32_000).optional(),
    dryRun: z.boolean().default(false),
  }),
  output: z.object({
    estimate: estimateJson,
    baselineEstimate: estimateJson.nullable().describe('The estimate for `against`, when asked'),
    run: runSummaryJson.nullable().describe('null on a dry run'),
    baseline: runSummaryJson.nullable().describe('The run of `against`, when asked'),
    comparison: evalComparisonJson.omit({ pairs: true }).nullable(),
    notes: z.array(z.string()),
  }),
  access: { agent: (i) => i.agent },
  http: { method: 'POST', path: '/v1/agents/{agent}/evaluations' },
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false },
  cli: {
    command: 'eval run',
    // --json is every command's "print JSON"; the checks get their own prefix.
    flags: { contains: 'check-contains', exact: 'check-exact', regex: 'check-regex', json: 'check-json' },
    summary: (r) =>
      (r.run ? runLine(r.run) : [r.estimate, r.baselineEstimate].flatMap((e) => (e ? [estimateLine(e)] : [])).join('\n')) +
      (r.baseline ? `\n${runLine(r.baseline)}` : '') +
      (r.comparison ? `\n${comparisonLine({ ...r.comparison, pairs: [] })}` : '') +
      (r.notes.length ? `\n${r.notes.map((n) => `Note: ${n}`).join('\n')}` : ''),
    examples: [
      'exemplar eval run --agent code-helper --version 4 --dry-run',
      'exemplar eval run --agent code-helper --version 4 --against production --provider anthropic',
      'exemplar eval run --agent code-helper --version none --provider openai --model gpt-4o-mini --no-judge',
    ],
  },
  run: async (input, { app, actor, progress }) => {
    const options = {
      evalSetVersion: input.evalSet,
      provider: input.provider,
      model: input.model,
      judge: input.judge ? { provider: input.judgeProvider, model: input.judgeModel } : (false as const),
      checks: { contains: input.contains, exact: input.exact, regex: input.regex, json: input.json },
      concurrency: input.concurrency,
      maxTokens: input.maxTokens,
      dryRun: input.dryRun,
    };
    if (input.against === undefined) {
      const outcome = await app.evalRuns.run(input.agent, { ...options, promptVersion: input.version }, actor, progress);
      return toJson({ estimate: outcome.estimate, baselineEstimate: null, run: outcome.run, baseline: null, comparison: null, notes: outcome.notes });
    }
    const pair = await app.evalRuns.runAgainst(input.agent, { ...options, promptVersion: input.version, against: input.against }, actor, progress);
    return toJson({
      estimate: pair.run.estimate,
      baselineEstimate: pair.baseline?.estimate ?? null,
      run: pair.run.run,
      baseline: pair.baseline?.run ?? null,
      comparison: pair.comparison && { ...pair.comparison, pairs: undefined }, // the pairs are compare_evaluations'
      notes: pair.notes,
    });
  },
});

export const listEvaluations = defineOperation({
  name: 'list_evaluations',
  title: 'List evaluation runs',
  description: "An agent's evaluation runs, newest first, with mean scores and intervals.",
  input: z.object({ agent: agentRefInput, version: promptChoice.optional().describe('Only runs of this prompt version (or none)') }),
  output: z.object({ items: z.array(runSummaryJson) }),
  access: { agent: (i) => i.agent },
  http: { method: 'GET', path: '/v1/agents/{agent}/evaluations' },
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true },
  cli: { command: 'eval list', columns: ['id', 'promptVersion', 'evalSetVersion', 'model', 'judgeModel', 'status', 'scored', 'meanScore', 'createdAt'] },
  run: async ({ agent, version }, { app }) => {
    if (version === 'production') {
      const production = await app.prompts.get(agent, { label: 'production' });
      return { items: toJson(await app.evalRuns.list(agent, { promptVersion: production.version })) };
    }
    return { items: toJson(await app.evalRuns.list(agent, { promptVersion: version })) };
  },
});

export const getEvaluation = defineOperation({
  name: 'get_evaluation',
  title: 'Get an evaluation run',
  description: "One evaluation run with each answer, its reference, scores and the judge's reasons.",
  input: z.object({ agent: agentRefInput, run: z.string().uuid('must be a run id (a UUID)').describe('Run id') }),
  output: runSummaryJson.extend({ results: z.array(resultJson) }),
  access: { agent: (i) => i.agent },
  http: { method: 'GET', path: '/v1/agents/{agent}/evaluations/{run}' },
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true },
  cli: {
    command: 'eval show',
    args: ['run'],
    summary: (r) =>
      `${runLine(r)}\n` +
      r.results.map((x) => `  ${x.primaryScore === null ? '  —  ' : x.primaryScore.toFixed(3)}  ${x.exampleId}  ${(x.prompt ?? '(deleted)').replace(/\s+/g, ' ').slice(0, 70)}${x.error ? `  error: ${x.error}` : ''}`).join('\n'),
  },
  run: async ({ agent, run }, { app }) => {
    const [resolved, found] = await Promise.all([app.agents.resolve(agent), app.evalRuns.get(run)]);
    // A run of another agent is "not found" here, so a key scoped to one agent cannot read another's runs by id.
    if (found.agent !== resolved.name) throw new NotFoundError('evaluation run', `${run} of agent "${resolved.name}"`);
    return toJson(found);
  },
});

export const compareEvaluations = defineOperation({
  name: 'compare_evaluations',
  title: 'Compare two prompt versions',
  description:
    'Paired comparison of two evaluated prompt versions (or none, or run ids) on the same eval set and scoring: wins/ties/losses of b, ' +
    'mean difference with a bootstrap interval, sign-test p, whether the promotion gate opens, and each example side by side.',
  input: z.object({
    agent: agentRefInput,
    a: z.string().min(1).describe('Baseline: a version number, none, or a run id'),
    b: z.string().min(1).describe('Challenger: a version number, none, or a run id'),
    evalSet: z.number().int().min(1).optional().describe('Eval set version (default: the latest both were run on)'),
    margin: z.number().min(0).max(1).default(0).describe('The gate opens when the lower bound of b − a is above this'),
  }),
  output: evalComparisonJson,
  access: { agent: (i) => i.agent },
  http: { method: 'GET', path: '/v1/agents/{agent}/evaluations/compare' },
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true },
  cli: {
    command: 'eval compare',
    summary: (c) => comparisonLine(c),
    examples: ['exemplar eval compare --agent code-helper --a 3 --b 4', 'exemplar eval compare --agent code-helper --a none --b 1 --json'],
  },
  run: async ({ agent, a, b, evalSet, margin }, { app }) => {
    const side = (s: string) => (/^[0-9]+$/.test(s) ? Number(s) : s);
    return toJson(await app.evalRuns.compare(agent, side(a), side(b), { evalSetVersion: evalSet, margin }));
  },
});
