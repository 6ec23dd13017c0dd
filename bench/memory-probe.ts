// Loads one saved index in a fresh process and prints how much resident memory it takes.
import { FileVectorStore } from '../src/vectors/file-store.ts';

const [root, agentId] = process.argv.slice(2);
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
gc();
const before = process.memoryUsage().rss;
let loaded = new FileVectorStore(root).load(agentId)!;
gc();
await new Promise((r) => setTimeout(r, 100));
gc();
const after = process.memoryUsage().rss;
console.log(JSON.stringify({ rssBytes: after - before, rawBytes: loaded.table.size * loaded.table.dimensions * 4 }));
loaded = undefined as never;
