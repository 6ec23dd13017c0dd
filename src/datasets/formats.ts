export const DATASET_FORMATS = [
  'openai-sft',
  'openai-dpo',
  'trl-prompt-completion',
  'trl-conversational',
  'trl-preference',
  'trl-kto',
  'axolotl-alpaca',
  'axolotl-chat-template',
] as const;
export type DatasetFormat = (typeof DATASET_FORMATS)[number];

/** How a format uses examples: one per record (sft), a positive and a negative of one prompt (pair), or both, labelled (kto). */
export type FormatKind = 'sft' | 'pair' | 'kto';

export const FORMAT_KIND: Record<DatasetFormat, FormatKind> = {
  'openai-sft': 'sft',
  'openai-dpo': 'pair',
  'trl-prompt-completion': 'sft',
  'trl-conversational': 'sft',
  'trl-preference': 'pair',
  'trl-kto': 'kto',
  'axolotl-alpaca': 'sft',
  'axolotl-chat-template': 'sft',
};

/** One line of a dataset before it is serialised, and the texts whose tokens it counts. */
export interface RenderedRecord {
  json: unknown;
  texts: string[];
}

interface Message {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

function chat(system: string | undefined, prompt: string, completion?: string): Message[] {
  const messages: Message[] = [];
  if (system) messages.push({ role: 'system', content: system });
  messages.push({ role: 'user', content: prompt });
  if (completion !== undefined) messages.push({ role: 'assistant', content: completion });
  return messages;
}

function texts(system: string | undefined, ...rest: string[]): string[] {
  return system ? [system, ...rest] : rest;
}

/**
 * One record of a single-example format. The system prompt goes into the chat formats as a
 * system message; the plain-text formats (TRL prompt-completion and KTO, Axolotl alpaca) have no
 * place for it and leave it out.
 */
export function renderSingle(format: DatasetFormat, system: string | undefined, prompt: string, completion: string, positive: boolean): RenderedRecord {
  switch (format) {
    case 'openai-sft':
    case 'trl-conversational':
    case 'axolotl-chat-template':
      return { json: { messages: chat(system, prompt, completion) }, texts: texts(system, prompt, completion) };
    case 'trl-prompt-completion':
      return { json: { prompt, completion }, texts: [prompt, completion] };
    case 'trl-kto':
      return { json: { prompt, completion, label: positive }, texts: [prompt, completion] };
    case 'axolotl-alpaca':
      return { json: { instruction: prompt, input: '', output: completion }, texts: [prompt, completion] };
    default:
      throw new Error(`${format} is a paired format`);
  }
}

/** One record of a paired format: a preferred (positive) and a rejected (negative) answer to one prompt. */
export function renderPair(format: DatasetFormat, system: string | undefined, prompt: string, chosen: string, rejected: string): RenderedRecord {
  switch (format) {
    case 'openai-dpo':
      return {
        json: {
          input: { messages: chat(system, prompt) },
          preferred_output: [{ role: 'assistant', content: chosen }],
          non_preferred_output: [{ role: 'assistant', content: rejected }],
        },
        texts: texts(system, prompt, chosen, rejected),
      };
    case 'trl-preference':
      return { json: { prompt, chosen, rejected }, texts: [prompt, chosen, rejected] };
    default:
      throw new Error(`${format} is not a paired format`);
  }
}
