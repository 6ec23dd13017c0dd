import { createAgent, deleteAgent, getAgent, listAgents, updateAgent } from './agents.ts';
import { buildDatasetOp, validateDatasetOp } from './datasets.ts';
import { loadDemoOp } from './demo.ts';
import {
  addExample,
  addExamples,
  bulkEditExamples,
  deleteExamples,
  exportExamplesOp,
  getExample,
  importExamplesOp,
  listExamples,
  updateExample,
} from './examples.ts';
import { cancelRun, createRun, getRun, getRunLogs, listRuns, updateRun } from './finetune.ts';
import { exportLlamaIndexOp } from './llamaindex.ts';
import { createApiKey, listApiKeys, revokeApiKey } from './keys.ts';
import type { Operation } from './operation.ts';
import { optimizePrompt } from './optimize.ts';
import { diffPrompts, getPrompt, listPromptVersions, promotePrompt, rollbackPrompt, setPrompt } from './prompts.ts';
import { indexStatus, searchExamples, syncIndex } from './retrieval.ts';
import { evaluateSearch, judgeResult, listJudgments, tuneSearch } from './relevance.ts';
import { describeSchemaOp, runSql } from './sql.ts';
import { agentStatsOp } from './stats.ts';
import { listAuditOp } from './audit.ts';
import { compareEvaluations, createEvalSet, getEvalSet, getEvaluation, listEvaluations, runEvaluation } from './evaluation.ts';

/** Every operation Exemplar has. Each door builds itself from this list. */
export const operations: Operation[] = [
  listAgents,
  getAgent,
  createAgent,
  updateAgent,
  deleteAgent,
  addExample,
  addExamples,
  getExample,
  listExamples,
  updateExample,
  deleteExamples,
  bulkEditExamples,
  importExamplesOp,
  exportExamplesOp,
  agentStatsOp,
  listAuditOp,
  buildDatasetOp,
  validateDatasetOp,
  searchExamples,
  evaluateSearch,
  tuneSearch,
  judgeResult,
  listJudgments,
  getPrompt,
  listPromptVersions,
  diffPrompts,
  setPrompt,
  promotePrompt,
  rollbackPrompt,
  optimizePrompt,
  createEvalSet,
  getEvalSet,
  runEvaluation,
  listEvaluations,
  compareEvaluations, // before get_evaluation: its route would otherwise take "compare" as a run id
  getEvaluation,
  syncIndex,
  indexStatus,
  runSql,
  describeSchemaOp,
  exportLlamaIndexOp,
  loadDemoOp,
  createApiKey,
  listApiKeys,
  revokeApiKey,
  createRun,
  listRuns,
  getRun,
  getRunLogs,
  cancelRun,
  updateRun,
] as unknown as Operation[];

export function findOperation(name: string): Operation | undefined {
  return operations.find((op) => op.name === name);
}
