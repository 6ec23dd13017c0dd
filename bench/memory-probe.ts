// Loads one saved index in a fresh process: how long the load takes (cold: nothing of it in this
// process yet) and how much resident memory the loaded index takes.
const [root, agentId] = process.argv.slice(2);
const t0 = performance.now();
const { FileVectorStore } = await import('../src/vectors/file-store.ts');
const importMs = performance.now() - t0;
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
gc();
const before = process.memoryUsage().rss;
const t1 = performance.now();
let loaded = new FileVectorStore(root).load(agentId)!;
const loadMs = performance.now() - t1;
gc();
await new Promise((r) => setTimeout(r, 100));
gc();
const after = process.memoryUsage().rss;
console.log(JSON.stringify({ loadMs, importMs, rssBytes: after - before, rawBytes: loaded.table.size * loaded.table.dimensions * 4 }));
loaded = undefined as never;
