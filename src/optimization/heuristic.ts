import type { RetrievedExample } from '../retrieval/retrieval.ts';
import { exampleBlock, neutraliseTags } from './prompt-xml.ts';

export const HEURISTIC_METHOD = 'heuristic (offline, no LLM): the current prompt, guidelines drawn from the rated examples, and the best examples as few-shot blocks';

/**
 * The offline optimizer: no model, just a structured prompt assembled from what the examples
 * show. Every guideline is derived from the retrieved examples, so it is as good as the data.
 */
export function heuristicPrompt(input: {
  agentName: string;
  description: string;
  currentPrompt: string | null;
  positive: RetrievedExample[];
  negative: RetrievedExample[];
}): string {
  const { positive, negative } = input;
  const base = input.currentPrompt?.trim() || `You are ${input.agentName}.${input.description ? ` ${input.description}` : ''}`;
  const guidelines: string[] = [];
  if (positive.length > 0) {
    const withCode = positive.filter((e) => e.output.includes('```')).length;
    if (withCode * 2 >= positive.length) guidelines.push('Show working code in fenced code blocks, as the best-rated answers do.');
    const words = positive.map((e) => e.output.split(/\s+/).filter(Boolean).length).sort((a, b) => a - b);
    const median = words[Math.floor(words.length / 2)];
    guidelines.push(`Keep answers focused: the best-rated answers run about ${median} words.`);
    guidelines.push('Answer the question asked directly first, then explain briefly.');
  }
  for (const e of negative) {
    guidelines.push(`Avoid answers like this one to "${neutraliseTags(oneLine(e.input, 80))}": ${neutraliseTags(oneLine(e.output, 100))}`);
  }
  const parts = [base];
  if (guidelines.length) parts.push(`## Guidelines\n${guidelines.map((g) => `- ${g}`).join('\n')}`);
  // No reward scores: this is the agent's own prompt, and to the agent they are noise.
  if (positive.length) parts.push(`## Examples of excellent answers\n${exampleBlock('examples', positive, { reward: false })}`);
  return parts.join('\n\n');
}

function oneLine(text: string, max: number): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}
