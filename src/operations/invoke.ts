import { z } from 'zod';
import { authorize } from '../access/authorize.ts';
import { parseInput } from '../validation.ts';
import type { Operation, OperationContext } from './operation.ts';

/**
 * How every door runs an operation: validate the input, check access, run, and return the result
 * as plain JSON. Doors differ only in how they get the input and show the output.
 */
export async function invoke<I extends z.ZodObject, O extends z.ZodType>(
  op: Operation<I, O>,
  rawInput: unknown,
  ctx: OperationContext,
): Promise<z.output<O>> {
  const started = performance.now();
  let outcome: 'ok' | 'error' = 'error';
  try {
    const input = parseInput(op.input, rawInput);
    await authorize(op, input, ctx);
    const output = JSON.parse(JSON.stringify(await op.run(input, ctx))) as z.output<O>;
    outcome = 'ok';
    return output;
  } finally {
    ctx.observe?.(op.name, (performance.now() - started) / 1000, outcome);
  }
}
