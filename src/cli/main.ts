import { Command, CommanderError } from 'commander';
import { operations } from '../operations/registry.ts';
import { addGlobalOptions, addOperationCommand, cliExitCode, finishCommands, usageError } from './door.ts';
import { addServerCommands } from './serve.ts';

const program = addGlobalOptions(new Command('exemplar'), false)
  // Commander reports a bad command line (unknown option, bad choice, missing argument) and throws
  // instead of exiting with its own code, so every invalid input exits 2.
  .exitOverride()
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

// A reader that goes away early (`exemplar examples export | head`) is not an error of ours.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(cliExitCode());
    throw err;
  });
}

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (!(err instanceof CommanderError)) throw err;
  if (err.exitCode !== 0) usageError(); // help and --version exit 0
}
// Exit only once everything written has reached the pipe or file: output to a pipe is written
// asynchronously, and exiting earlier cut it off at the pipe's 64 KB buffer. (The exit itself is
// still needed: PGlite's WASM runtime can leave handles that keep the process alive.)
await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
process.exit(cliExitCode());

function flushed(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => {
    if (stream.writableLength === 0) resolve();
    else stream.write('', () => resolve());
  });
}
