import type { LlmConfig } from '../config/providers.ts';
import type { ModelPrice } from './run-types.ts';

/**
 * List prices in USD per million tokens (input, output) of well-known models, from Anthropic's and
 * OpenAI's price pages as last checked for this table (standard tier, no batch or cache discount).
 * Prices change, and a model not here has an unknown cost: EXEMPLAR_LLM_PRICE="in,out" sets the
 * price of every model of a run instead.
 */
const LIST_PRICES: Array<[prefix: string, input: number, output: number]> = [
  ['claude-opus-4-5', 5, 25],
  ['claude-opus-4-1', 15, 75],
  ['claude-opus-4', 15, 75],
  ['claude-sonnet-4-5', 3, 15],
  ['claude-sonnet-4', 3, 15],
  ['claude-3-7-sonnet', 3, 15],
  ['claude-haiku-4-5', 1, 5],
  ['claude-3-5-haiku', 0.8, 4],
  ['claude-3-haiku', 0.25, 1.25],
  ['gpt-4o-mini', 0.15, 0.6],
  ['gpt-4o', 2.5, 10],
  ['gpt-4.1-nano', 0.1, 0.4],
  ['gpt-4.1-mini', 0.4, 1.6],
  ['gpt-4.1', 2, 8],
  ['gpt-5-nano', 0.05, 0.4],
  ['gpt-5-mini', 0.25, 2],
  ['gpt-5', 1.25, 10],
  ['o4-mini', 1.1, 4.4],
  ['o3-mini', 1.1, 4.4],
  ['o3', 2, 8],
];

/**
 * A model's price: EXEMPLAR_LLM_PRICE when set, else the table's entry that the id equals, alone
 * or followed by a date ("claude-sonnet-4-5-20250929" is claude-sonnet-4-5; "gpt-4o-mini" is not
 * gpt-4o), else null: unknown.
 */
export function priceOf(model: string, config: Pick<LlmConfig, 'price'>): ModelPrice | null {
  if (config.price) return { ...config.price, source: 'EXEMPLAR_LLM_PRICE' };
  const id = model.toLowerCase();
  for (const [prefix, input, output] of LIST_PRICES) {
    if (id === prefix || new RegExp(`^${prefix.replace(/\./g, '\\.')}-(\\d{4}-?\\d{2}-?\\d{2}|latest)$`).test(id)) {
      return { inputPerMTok: input, outputPerMTok: output, source: 'list price' };
    }
  }
  return null;
}

export function costOf(price: ModelPrice, inputTokens: number, outputTokens: number): number {
  return (inputTokens * price.inputPerMTok + outputTokens * price.outputPerMTok) / 1e6;
}
