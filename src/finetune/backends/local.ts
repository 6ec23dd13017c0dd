import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { ValidationError } from '../../errors.ts';
import { processAlive } from '../../process-alive.ts';
import { FineTuneBackendError, RunElsewhereError } from '../errors.ts';
import { checkNames, LOCAL_HYPERPARAMETERS, parseHyperparameters, type Hyperparameters } from '../hyperparameters.ts';
import type { BackendRun, BackendUpdate, RunBackend, RunFiles } from '../types.ts';

/** LoRA defaults; hyperparameters of the run override them. */
export const LORA_DEFAULTS = {
  lora_r: 16,
  lora_alpha: 32,
  lora_dropout: 0.05,
  learning_rate: 2e-4,
  num_epochs: 3,
  micro_batch_size: 2,
  gradient_accumulation_steps: 4,
  sequence_len: 2048,
} as const;

/** The DPO and KTO beta TRL uses when the run gives none. */
const DEFAULT_BETA = 0.1;

const LOG_FILE = 'output.log';
const EXIT_FILE = 'exit_code';
const MAX_LOG_CHUNK = 1024 * 1024;

/** Which trainer config a dataset format gets. */
export function trainerFor(format: string): { kind: 'axolotl'; type: 'alpaca' | 'chat_template' } | { kind: 'trl'; trainer: 'sft' | 'dpo' | 'kto' } {
  switch (format) {
    case 'axolotl-alpaca':
      return { kind: 'axolotl', type: 'alpaca' };
    case 'axolotl-chat-template':
      return { kind: 'axolotl', type: 'chat_template' };
    case 'trl-preference':
      return { kind: 'trl', trainer: 'dpo' };
    case 'trl-kto':
      return { kind: 'trl', trainer: 'kto' };
    case 'trl-prompt-completion':
    case 'trl-conversational':
    case 'openai-sft':
      return { kind: 'trl', trainer: 'sft' };
    default:
      throw new ValidationError('format', `the local backend cannot train ${format} datasets (use an axolotl-* or trl-* format)`);
  }
}

/**
 * The trainer config for a run: an Axolotl YAML for axolotl-* formats, a TRL YAML (for
 * `trl sft|dpo|kto --config`) otherwise. LoRA by default; QLoRA (4-bit) when hyperparameters.qlora.
 * Built from the typed, allowlisted hyperparameters and written by a YAML library: no key or value
 * can add a line (the run's hyperparameters are parsed again here, so a row written before these
 * checks cannot either).
 */
export function trainerConfig(run: Pick<BackendRun, 'baseModel' | 'datasetFormat' | 'hyperparameters'>, files: RunFiles): { file: string; text: string } {
  const given = parseHyperparameters(run.hyperparameters);
  checkLocal(run.datasetFormat, given);
  const hp = { ...LORA_DEFAULTS, ...given };
  const qlora = hp.qlora === true;
  const beta = typeof hp.beta === 'number' ? hp.beta : DEFAULT_BETA;
  const out = path.join(files.dir, 'output');
  const t = trainerFor(run.datasetFormat);
  if (t.kind === 'axolotl') {
    const dataset = (file: string) => ({
      path: file,
      ds_type: 'json',
      type: t.type,
      ...(t.type === 'chat_template' ? { field_messages: 'messages' } : {}),
      ...(file === files.validation ? { split: 'train' } : {}),
    });
    const config = {
      base_model: run.baseModel,
      adapter: qlora ? 'qlora' : 'lora',
      load_in_4bit: qlora,
      load_in_8bit: false,
      lora_r: hp.lora_r,
      lora_alpha: hp.lora_alpha,
      lora_dropout: hp.lora_dropout,
      lora_target_linear: true,
      datasets: [dataset(files.train)],
      ...(files.validation ? { test_datasets: [dataset(files.validation)] } : { val_set_size: 0 }),
      ...(t.type === 'chat_template' ? { chat_template: 'tokenizer_default' } : {}),
      sequence_len: hp.sequence_len,
      sample_packing: false,
      micro_batch_size: hp.micro_batch_size,
      gradient_accumulation_steps: hp.gradient_accumulation_steps,
      num_epochs: hp.num_epochs,
      learning_rate: hp.learning_rate,
      optimizer: qlora ? 'paged_adamw_8bit' : 'adamw_torch',
      lr_scheduler: 'cosine',
      warmup_ratio: 0.03,
      bf16: 'auto',
      gradient_checkpointing: true,
      logging_steps: 1,
      output_dir: out,
    };
    return { file: path.join(files.dir, 'axolotl.yaml'), text: toYaml(config) };
  }
  const config = {
    trainer: t.trainer,
    model_name_or_path: run.baseModel,
    datasets: [
      { path: 'json', data_files: files.train, split: 'train' },
    ],
    // TRL's scripts take the eval split from the same dataset; the command can read eval_data_files.
    ...(files.validation ? { eval_data_files: files.validation, eval_strategy: 'epoch' } : {}),
    use_peft: true,
    lora_r: hp.lora_r,
    lora_alpha: hp.lora_alpha,
    lora_dropout: hp.lora_dropout,
    lora_target_modules: 'all-linear',
    load_in_4bit: qlora,
    ...(qlora ? { bnb_4bit_quant_type: 'nf4', use_bnb_nested_quant: true } : {}),
    learning_rate: hp.learning_rate,
    num_train_epochs: hp.num_epochs,
    per_device_train_batch_size: hp.micro_batch_size,
    gradient_accumulation_steps: hp.gradient_accumulation_steps,
    max_length: hp.sequence_len,
    gradient_checkpointing: true,
    bf16: true,
    logging_steps: 1,
    output_dir: out,
    ...(t.trainer === 'dpo' || t.trainer === 'kto' ? { beta } : {}),
  };
  return { file: path.join(files.dir, `trl-${t.trainer}.yaml`), text: toYaml(config) };
}

/** YAML from plain data, by the `yaml` library (it quotes whatever needs quoting); long strings are never folded. */
export function toYaml(value: Record<string, unknown>): string {
  return stringify(value, { lineWidth: 0 });
}

/** The local backend's checks of a run's hyperparameters: its names only, and a numeric beta for DPO and KTO only. */
function checkLocal(format: string, hp: Hyperparameters): void {
  const trainer = trainerFor(format);
  const dpoOrKto = trainer.kind === 'trl' && (trainer.trainer === 'dpo' || trainer.trainer === 'kto');
  const allowed = LOCAL_HYPERPARAMETERS.filter((k) => k !== 'beta' || dpoOrKto);
  checkNames(hp, allowed, `the local backend with ${format}`);
  if (hp.beta === 'auto') throw new ValidationError('hyperparameters.beta', 'the local backend needs a number (DPO and KTO default to 0.1), not "auto"');
}

/** Single-quotes a value for sh. */
export function shellQuote(value: string): string {
  return `'${value.split("'").join(`'\\''`)}'`;
}

type Quoting = 'plain' | 'single' | 'double';

/**
 * Fills {config} {train} {validation} {dir} in a sh command with the paths, each quoted for where
 * its placeholder stands: outside quotes, inside '...', inside "..." (and inside $(...) or `...`,
 * which start afresh). A value can neither end a quote early nor start a command; control
 * characters, which no path of ours holds, are refused outright.
 */
export function fillCommand(template: string, values: { config: string; train: string; validation: string | null; dir: string }): string {
  const stack: { quoting: Quoting; parens: number; closer: ')' | '`' | null }[] = [{ quoting: 'plain', parens: 0, closer: null }];
  let out = '';
  for (let i = 0; i < template.length; i++) {
    const top = stack[stack.length - 1];
    const c = template[i];
    const placeholder = c === '{' ? /^\{(config|train|validation|dir)\}/.exec(template.slice(i, i + 13)) : null;
    if (placeholder) {
      if (top.quoting !== 'single' && template[i - 1] === '$') {
        throw new ValidationError('command', `write ${placeholder[0]}, not $${placeholder[0]}: Exemplar puts the quoted path there itself`);
      }
      const value = values[placeholder[1] as keyof typeof values] ?? '';
      if (/[\u0000-\u001f\u007f]/.test(value)) throw new FineTuneBackendError(`local: the ${placeholder[1]} path holds a control character; refusing to run it`);
      out += quoteFor(top.quoting, value);
      i += placeholder[0].length - 1;
      continue;
    }
    out += c;
    if (top.quoting === 'single') {
      if (c === "'") stack.pop();
      continue;
    }
    if (c === '\\') {
      // An escaped character is literal (inside "..." too, for the ones that matter).
      if (i + 1 < template.length) out += template[++i];
      continue;
    }
    if (c === '$' && template[i + 1] === '(') {
      out += template[++i];
      stack.push({ quoting: 'plain', parens: 0, closer: ')' });
    } else if (c === '`') {
      if (top.closer === '`') stack.pop();
      else stack.push({ quoting: 'plain', parens: 0, closer: '`' });
    } else if (top.quoting === 'double') {
      if (c === '"') stack.pop();
    } else if (c === "'") {
      stack.push({ quoting: 'single', parens: 0, closer: null });
    } else if (c === '"') {
      stack.push({ quoting: 'double', parens: 0, closer: null });
    } else if (c === '(') {
      top.parens++;
    } else if (c === ')') {
      if (top.parens > 0) top.parens--;
      else if (top.closer === ')') stack.pop();
    } else if (c === '#' && (i === 0 || /[\s;&|()]/.test(template[i - 1]))) {
      // A comment runs to the end of the line; its quotes open nothing.
      const end = template.indexOf('\n', i);
      const stop = end < 0 ? template.length : end;
      out += template.slice(i + 1, stop);
      i = stop - 1;
    }
  }
  return out;
}

function quoteFor(quoting: Quoting, value: string): string {
  // Inside '...': close it, add the single-quoted value, reopen it.
  if (quoting === 'single') return `'${shellQuote(value)}'`;
  // Inside "...", a backslash makes exactly $ ` " \ literal.
  if (quoting === 'double') return value.replace(/[$`"\\]/g, (ch) => `\\${ch}`);
  return shellQuote(value);
}

/**
 * Trains on this machine: writes the trainer config next to the dataset in <dataDir>/runs/<id>/ and
 * runs the configured command (EXEMPLAR_FINETUNE_COMMAND, or one given with the run) in its own
 * process group. Its stdout and stderr go to output.log and its exit code to exit_code, so any
 * Exemplar process (the server's poller, `finetune show`) can follow the run, even after a restart.
 */
export class LocalFineTuneBackend implements RunBackend {
  readonly name = 'local' as const;

  /** Where a process id of ours means something: see processOwner(). */
  readonly owner: string;

  constructor(
    private readonly opts: { command?: string; onExit?: (runId: string) => void; owner?: string } = {},
  ) {
    this.owner = opts.owner ?? processOwner();
  }

  /**
   * Whether this process may judge the run from its process id. A pid means nothing on another
   * machine, after a reboot, or in another PID namespace (a container): a replica there would find
   * no such process and fail a healthy run. Runs recorded before owners were kept count as ours.
   */
  ownsProcessOf(run: BackendRun): boolean {
    const owner = run.backendState.owner;
    return typeof owner !== 'string' || owner === this.owner;
  }

  check({ format, hyperparameters, command }: { format: string; hyperparameters: Record<string, unknown>; command?: string }): void {
    checkLocal(format, parseHyperparameters(hyperparameters));
    const template = command || this.opts.command;
    if (!template) {
      throw new ValidationError('command', 'the local backend needs a training command: set EXEMPLAR_FINETUNE_COMMAND or give one with the run');
    }
    // Refuses a template that cannot be filled safely before anything is recorded.
    fillCommand(template, { config: 'c', train: 't', validation: 'v', dir: 'd' });
  }

  async start(run: BackendRun, files: RunFiles): Promise<BackendUpdate> {
    const template = (run.backendState.command as string | undefined) || this.opts.command;
    if (!template) throw new FineTuneBackendError('local: no training command (EXEMPLAR_FINETUNE_COMMAND)');
    const config = trainerConfig(run, files);
    await fs.promises.writeFile(config.file, config.text);
    const command = fillCommand(template, { config: config.file, train: files.train, validation: files.validation, dir: files.dir });
    const logFile = path.join(files.dir, LOG_FILE);
    const exitFile = path.join(files.dir, EXIT_FILE);
    const log = fs.openSync(logFile, 'a');
    try {
      // The wrapper records the exit code atomically; the command's own process group can be killed on cancel.
      const child = spawn('sh', ['-c', 'sh -c "$1"; code=$?; echo $code > "$2.tmp"; mv "$2.tmp" "$2"', 'exemplar-finetune', command, exitFile], {
        cwd: files.dir,
        detached: true,
        stdio: ['ignore', log, log],
      });
      await new Promise<void>((resolve, reject) => {
        child.once('spawn', resolve);
        child.once('error', reject);
      });
      child.once('exit', () => this.opts.onExit?.(run.id));
      child.unref();
      return {
        status: 'running',
        externalId: `pid:${child.pid}`,
        state: { pid: child.pid, dir: files.dir, config: config.file, logOffset: 0, host: os.hostname(), owner: this.owner },
        logLines: [`local: wrote ${path.basename(config.file)}; running on ${os.hostname()} (process ${child.pid}): ${template}`],
      };
    } finally {
      fs.closeSync(log);
    }
  }

  async poll(run: BackendRun): Promise<BackendUpdate> {
    const dir = run.backendState.dir as string | undefined;
    // Another replica's run: shown as recorded, and left to the server that started it.
    if (!dir || !this.ownsProcessOf(run)) return {};
    const update: BackendUpdate = {};
    // Read the exit code first: once it exists, the log is complete.
    const exitText = await fs.promises.readFile(path.join(dir, EXIT_FILE), 'utf8').catch(() => null);
    let { text, offset } = await readFrom(path.join(dir, LOG_FILE), Number(run.backendState.logOffset ?? 0), exitText !== null);
    while (exitText !== null) {
      const more = await readFrom(path.join(dir, LOG_FILE), offset, true);
      if (!more.text) break;
      text += more.text;
      offset = more.offset;
    }
    if (text) {
      update.logLines = text.replace(/\n$/, '').split('\n');
      update.state = { logOffset: offset };
    }
    if (exitText !== null) {
      const code = Number.parseInt(exitText.trim(), 10);
      if (code === 0) {
        update.status = 'succeeded';
        update.resultModel = path.join(dir, 'output');
      } else {
        update.status = 'failed';
        update.error = `the training command exited with code ${Number.isNaN(code) ? exitText.trim() : code}`;
      }
    } else if (!alive(run.backendState.pid)) {
      // Gone without a word (killed, machine restarted): read what is left, then give up.
      const again = await fs.promises.readFile(path.join(dir, EXIT_FILE), 'utf8').catch(() => null);
      if (again === null) {
        update.status = 'failed';
        update.error = 'the training process ended without recording an exit code';
      }
    }
    return update;
  }

  async cancel(run: BackendRun): Promise<BackendUpdate> {
    if (!this.ownsProcessOf(run)) {
      throw new RunElsewhereError(
        `run ${run.id} trains on ${String(run.backendState.host ?? 'another host')} (process ${String(run.backendState.pid)}); cancel it through the Exemplar server there`,
        { host: run.backendState.host },
      );
    }
    const pid = run.backendState.pid;
    if (typeof pid === 'number' && alive(pid)) {
      try {
        process.kill(-pid, 'SIGTERM');
      } catch {
        /* already gone */
      }
      return { logLines: [`local: sent SIGTERM to process group ${pid}`] };
    }
    return {};
  }
}

function alive(pid: unknown): boolean {
  return typeof pid === 'number' && processAlive(pid);
}

/** Reads complete lines of a file from a byte offset (at most 1 MiB at a time); `final` takes a last partial line too. */
async function readFrom(file: string, offset: number, final = false): Promise<{ text: string; offset: number }> {
  const handle = await fs.promises.open(file, 'r').catch(() => null);
  if (!handle) return { text: '', offset };
  try {
    const buf = Buffer.alloc(MAX_LOG_CHUNK);
    const { bytesRead } = await handle.read(buf, 0, MAX_LOG_CHUNK, offset);
    let chunk = buf.subarray(0, bytesRead);
    const lastNewline = chunk.lastIndexOf(0x0a);
    // Only whole lines, unless one line is longer than the chunk.
    if (final) {
      /* the writer is done: take everything */
    } else if (lastNewline >= 0) chunk = chunk.subarray(0, lastNewline + 1);
    else if (bytesRead < MAX_LOG_CHUNK) return { text: '', offset };
    return { text: chunk.toString('utf8'), offset: offset + chunk.length };
  } finally {
    await handle.close();
  }
}

/**
 * This process's machine, boot and PID namespace: a process id is only meaningful to a process
 * with the same three. The hostname alone is not enough (two containers may share one, and a
 * reboot reuses pids).
 */
export function processOwner(): string {
  const read = (get: () => string) => {
    try {
      return get().trim();
    } catch {
      return '';
    }
  };
  const bootId = read(() => fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8'));
  const pidNamespace = read(() => fs.readlinkSync('/proc/self/ns/pid'));
  return [os.hostname(), bootId, pidNamespace].join('|');
}
