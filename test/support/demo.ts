import fs from 'node:fs';
import { DEMO_FILE } from '../../src/demo/demo.ts';

export interface DemoRow { prompt: string; completion: string; reward_score: number; example_type: 'positive' | 'negative' }

const demo: DemoRow[] = fs.readFileSync(DEMO_FILE, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));

/** The demo example whose prompt starts with `prompt`, of `type`, whose completion contains `contains`. */
export function demoRow(prompt: string, type: DemoRow['example_type'], contains: string): DemoRow {
  const row = demo.find((r) => r.prompt.startsWith(prompt) && r.example_type === type && r.completion.includes(contains));
  if (!row) throw new Error(`demo example not found: ${prompt}`);
  return row;
}
