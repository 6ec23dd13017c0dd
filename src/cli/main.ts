import { Command } from 'commander';
import { operations } from '../operations/registry.ts';
import { addGlobalOptions, addOperationCommand, cliExitCode, finishCommands } from './door.ts';
import { addServerCommands } from './serve.ts';

const program = addGlobalOptions(new Command('exemplar'), false)
  .description(
    "Exemplar keeps your AI agents' training examples, prompts and fine-tuning runs in PostgreSQL, " +
      "and finds each agent's best examples. Data lives in an embedded database (./.exemplar/db) " +
      'unless DATABASE_URL points at a PostgreSQL server.',
  )
  // Options after a command's name belong to that command, so `search eval --agent A` reaches `eval`
  // and not `search`. Every command also takes the global options itself (addGlobalOptions).
  .enablePositionalOptions()
  .showHelpAfterError('(run with --help for usage)')
  .addHelpText(
    'after',
    `
Quick start:
  $ exemplar demo                                  load a demo agent with 300+ examples
  $ exemplar agents list
  $ exemplar examples list --agent demo-coding-assistant --type positive --min-score 0.9
  $ exemplar examples import data.jsonl --agent my-agent

Every command takes --help. Exit codes: 0 ok, 1 error, 2 invalid input.`,
  );

for (const op of operations) if (!op.doors || op.doors.includes('cli')) addOperationCommand(program, op);
addServerCommands(program);
finishCommands(program);

await program.parseAsync(process.argv);
process.exit(cliExitCode());
