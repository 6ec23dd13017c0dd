import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { VectorTable } from './vector-table.ts';

/** What an index folder holds, in manifest.json. The manifest is the commit point of a save. */
export interface IndexManifest {
  format: 1;
  agentId: string;
  /** Embedding model id the vectors came from; an index is never used with another model. */
  model: string;
  dimensions: number;
  count: number;
  /** CRC-32 of the data file, checked on every load. */
  checksum: string;
  dataFile: string;
  /** Highest index_outbox id applied when this was saved. */
  watermark: number;
  /** The index's position in the change feed when saved (a PostgreSQL xid8: every change below it is in). */
  feedPosition?: string;
  savedAt: string;
}

const MAGIC = Buffer.from('EXIDX001');
const ID_BYTES = 36;
const HASH_BYTES = 16;

/**
 * The file backend: one folder per agent under the index directory. A save writes a new data file
 * (temp file, fsync, rename), then a new manifest naming it (temp file, fsync, rename). A kill -9
 * at any point leaves the old manifest with its old data file, or the new pair: never a mix.
 */
export class FileVectorStore {
  constructor(readonly root: string) {}

  folder(agentId: string): string {
    return path.join(this.root, agentId);
  }

  readManifest(agentId: string): IndexManifest | undefined {
    try {
      return JSON.parse(fs.readFileSync(path.join(this.folder(agentId), 'manifest.json'), 'utf8')) as IndexManifest;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  save(agentId: string, table: VectorTable, meta: { model: string; watermark: number; feedPosition?: string }): IndexManifest {
    const dir = this.folder(agentId);
    fs.mkdirSync(dir, { recursive: true });
    const data = encode(table);
    const dataFile = `vectors-${Date.now()}-${randomBytes(3).toString('hex')}.bin`;
    writeAtomic(path.join(dir, dataFile), data);
    const manifest: IndexManifest = {
      format: 1,
      agentId,
      model: meta.model,
      dimensions: table.dimensions,
      count: table.size,
      checksum: crc32(data).toString(16).padStart(8, '0'),
      dataFile,
      watermark: meta.watermark,
      ...(meta.feedPosition === undefined ? {} : { feedPosition: meta.feedPosition }),
      savedAt: new Date().toISOString(),
    };
    writeAtomic(path.join(dir, 'manifest.json'), Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`));
    // Old data files are garbage now; a crash before this line only leaves litter, cleaned next time.
    for (const f of fs.readdirSync(dir)) if (f !== dataFile && f !== 'manifest.json') fs.rmSync(path.join(dir, f), { force: true });
    return manifest;
  }

  /** Loads an agent's index, or undefined when there is none. A corrupt index throws. */
  load(agentId: string): { table: VectorTable; manifest: IndexManifest } | undefined {
    const manifest = this.readManifest(agentId);
    if (!manifest) return undefined;
    const fd = fs.openSync(path.join(this.folder(agentId), manifest.dataFile), 'r');
    try {
      return { table: readTable(fd, manifest), manifest };
    } finally {
      fs.closeSync(fd);
    }
  }

  remove(agentId: string): void {
    fs.rmSync(this.folder(agentId), { recursive: true, force: true });
  }
}

function writeAtomic(file: string, data: Buffer): void {
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = fs.openSync(tmp, 'w');
  try {
    let off = 0;
    while (off < data.length) off += fs.writeSync(fd, data, off, data.length - off);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  const dirFd = fs.openSync(path.dirname(file), 'r');
  try {
    fs.fsyncSync(dirFd);
  } finally {
    fs.closeSync(dirFd);
  }
}

/** Layout: magic, count, stride, then ids, hash prefixes, rewards, types, scales, errors, float32 rows, int8 rows. */
function encode(table: VectorTable): Buffer {
  const c = table.columns();
  const n = c.ids.length;
  const head = Buffer.alloc(16);
  MAGIC.copy(head, 0);
  head.writeUInt32LE(n, 8);
  head.writeUInt32LE(table.stride, 12);
  const text = Buffer.from(c.ids.join('') + c.hashes.map((h) => h.slice(0, HASH_BYTES).padEnd(HASH_BYTES, '0')).join(''), 'latin1');
  const pad = Buffer.alloc((4 - ((16 + text.length) % 4)) % 4);
  const bytes = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  const typesPad = Buffer.alloc((4 - (n % 4)) % 4);
  return Buffer.concat([head, text, pad, bytes(c.rewards), bytes(c.types), typesPad, bytes(c.scales), bytes(c.errors), bytes(c.f32), bytes(c.i8)]);
}

/**
 * Reads a data file straight into a new table's WASM memory (no intermediate copy of the vectors),
 * checking the CRC as it goes. Throws when the file is torn or does not match its manifest.
 */
function readTable(fd: number, manifest: IndexManifest): VectorTable {
  let position = 0;
  let crc = 0;
  const read = <T extends Uint8Array>(target: T): T => {
    let off = 0;
    while (off < target.length) {
      const got = fs.readSync(fd, target, off, target.length - off, position);
      if (got === 0) throw new Error(`index of agent ${manifest.agentId} is truncated`);
      off += got;
      position += got;
    }
    crc = crc32(target, crc);
    return target;
  };
  const head = read(Buffer.alloc(16));
  if (!head.subarray(0, 8).equals(MAGIC)) throw new Error(`index of agent ${manifest.agentId} is not an Exemplar index file`);
  const n = head.readUInt32LE(8);
  const text = read(Buffer.alloc(n * (ID_BYTES + HASH_BYTES)));
  read(Buffer.alloc((4 - ((16 + text.length) % 4)) % 4));
  const { table, columns, commit } = VectorTable.forLoad(manifest.dimensions, n);
  if (table.stride !== head.readUInt32LE(12) || n !== manifest.count) throw new Error(`index of agent ${manifest.agentId} does not match its manifest`);
  read(columns.rewards);
  read(columns.types);
  read(Buffer.alloc((4 - (n % 4)) % 4));
  read(columns.scales);
  read(columns.errors);
  read(columns.f32);
  read(columns.i8);
  const sum = crc.toString(16).padStart(8, '0');
  if (sum !== manifest.checksum) throw new Error(`index of agent ${manifest.agentId} is corrupt (checksum ${sum}, manifest says ${manifest.checksum})`);
  // One decode, then substrings: far cheaper than a decode per id.
  const all = text.toString('latin1');
  const ids = new Array<string>(n);
  const hashes = new Array<string>(n);
  for (let i = 0, off = 0; i < n; i++, off += ID_BYTES) ids[i] = all.slice(off, off + ID_BYTES);
  for (let i = 0, off = n * ID_BYTES; i < n; i++, off += HASH_BYTES) hashes[i] = all.slice(off, off + HASH_BYTES);
  commit(ids, hashes);
  return table;
}
