import { encode } from 'gpt-tokenizer/encoding/o200k_base';

/** The tokenizer that counts dataset tokens: OpenAI's o200k_base (GPT-4o, GPT-4.1, o-series), pure JS. */
export const TOKENIZER = 'o200k_base (gpt-tokenizer)';

// Text that looks like a special token (e.g. "<|endoftext|>") is counted as ordinary text, as a
// trainer would see it in a message, instead of throwing.
const PLAIN = { disallowedSpecial: new Set<string>() };

/** Tokens in one text. Deterministic; repeated texts (the system prompt) are counted once and remembered. */
export function countTokens(text: string, cache?: Map<string, number>): number {
  if (text.length === 0) return 0;
  const hit = cache?.get(text);
  if (hit !== undefined) return hit;
  const n = encode(text, PLAIN).length;
  cache?.set(text, n);
  return n;
}
