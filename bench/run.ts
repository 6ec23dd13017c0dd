// `npm run bench`: prints every figure the issues ask for. Not a test; numbers vary by machine.
import { benchCli } from './cli.ts';
import { benchDatasets } from './datasets.ts';
import { benchEvaluation } from './evaluation.ts';
import { benchHeldOut } from './held-out.ts';
import { benchImport } from './import.ts';
import { benchLoad } from './load.ts';
import { benchMcp } from './mcp.ts';
import { benchRelevance } from './relevance.ts';
import { benchReplicas } from './replicas.ts';
import { benchRetrieval } from './retrieval.ts';
import { benchSql } from './sql.ts';
import { benchUi } from './ui.ts';

console.log(`# Exemplar benchmarks (${new Date().toISOString()}, node ${process.version})`);
const only = process.argv[2];
if (!only || only === 'cli') await benchCli();
if (!only || only === 'import') await benchImport();
if (!only || only === 'relevance') await benchRelevance();
if (!only || only === 'retrieval') await benchRetrieval();
if (!only || only === 'mcp') await benchMcp();
if (!only || only === 'datasets') await benchDatasets();
if (!only || only === 'ui') await benchUi();
if (!only || only === 'sql') await benchSql();
if (!only || only === 'load') await benchLoad();
if (!only || only === 'replicas') await benchReplicas();
if (!only || only === 'evaluation') await benchEvaluation();
if (!only || only === 'held-out') await benchHeldOut();
