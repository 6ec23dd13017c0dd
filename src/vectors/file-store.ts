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

// 002: the int8 codes are stored in the scan's block layout (vector-table.ts); a 001 file fails to
// load, and the index is rebuilt from the database.
const MAGIC = Buffer.from('EXIDX002');
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
    let crc = 0;
    for (const part of data) crc = crc32(part, crc);
    const dataFile = `vectors-${Date.now()}-${randomBytes(3).toString('hex')}.bin`;
    writeAtomic(path.join(dir, dataFile), data);
    const manifest: IndexManifest = {
      format: 1,
      agentId,
      model: meta.model,
      dimensions: table.dimensions,
      count: table.size,
      checksum: crc.toString(16).padStart(8, '0'),
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

/** One read or write call moves at most this much (Node refuses lengths from 2 GiB). */
const IO_CHUNK = 2 ** 30;

/** Writes the parts in order, as one file. Parts, not one Buffer: a Buffer stops at 4 GiB. */
function writeAtomic(file: string, data: Buffer | Buffer[]): void {
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = fs.openSync(tmp, 'w');
  try {
    for (const part of Array.isArray(data) ? data : [data]) {
      let off = 0;
      while (off < part.length) off += fs.writeSync(fd, part, off, Math.min(IO_CHUNK, part.length - off));
    }
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

/**
 * Layout: magic, count, stride, then ids, hash prefixes, rewards, types, scales, errors, float32
 * rows, int8 codes (whole blocks of 64 rows). Returned as parts: each column is one view per shard.
 */
function encode(table: VectorTable): Buffer[] {
  const c = table.columns();
  const n = c.ids.length;
  const head = Buffer.alloc(16);
  MAGIC.copy(head, 0);
  head.writeUInt32LE(n, 8);
  head.writeUInt32LE(table.stride, 12);
  // Written id by id: one joined string stops at 2^29 characters (10M rows).
  const text = Buffer.alloc(n * (ID_BYTES + HASH_BYTES), '0');
  c.ids.forEach((id, i) => text.write(id, i * ID_BYTES, ID_BYTES, 'latin1'));
  c.hashes.forEach((h, i) => text.write(h.slice(0, HASH_BYTES), n * ID_BYTES + i * HASH_BYTES, HASH_BYTES, 'latin1'));
  const pad = Buffer.alloc((4 - ((16 + text.length) % 4)) % 4);
  const bytes = (parts: Uint8Array[]) => parts.map((a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength));
  const typesPad = Buffer.alloc((4 - (n % 4)) % 4);
  return [head, text, pad, ...bytes(c.rewards), ...bytes(c.types), typesPad, ...bytes(c.scales), ...bytes(c.errors), ...bytes(c.f32), ...bytes(c.i8)];
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
      const got = fs.readSync(fd, target, off, Math.min(IO_CHUNK, target.length - off), position);
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
  const readAll = (parts: Uint8Array[]) => parts.forEach((part) => read(part));
  readAll(columns.rewards);
  readAll(columns.types);
  read(Buffer.alloc((4 - (n % 4)) % 4));
  readAll(columns.scales);
  readAll(columns.errors);
  readAll(columns.f32);
  readAll(columns.i8);
  const sum = crc.toString(16).padStart(8, '0');
  if (sum !== manifest.checksum) throw new Error(`index of agent ${manifest.agentId} is corrupt (checksum ${sum}, manifest says ${manifest.checksum})`);
  // One decode per million rows, then substrings: far cheaper than a decode per id, and no string
  // longer than V8 allows (2^29 characters).
  const ids = new Array<string>(n);
  const hashes = new Array<string>(n);
  const slices = (from: number, width: number, into: string[]) => {
    for (let i0 = 0; i0 < n; i0 += 1_000_000) {
      const i1 = Math.min(n, i0 + 1_000_000);
      const all = text.toString('latin1', from + i0 * width, from + i1 * width);
      for (let i = i0; i < i1; i++) into[i] = all.slice((i - i0) * width, (i - i0 + 1) * width);
    }
  };
  slices(0, ID_BYTES, ids);
  slices(n * ID_BYTES, HASH_BYTES, hashes);
  commit(ids, hashes);
  return table;
}
