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
  const input = parseInput(op.input, rawInput);
  await authorize(op, input, ctx);
  const output = await op.run(input, ctx);
  return JSON.parse(JSON.stringify(output)) as z.output<O>;
}
