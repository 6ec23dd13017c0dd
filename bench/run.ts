// `npm run bench`: prints every figure the issues ask for. Not a test; numbers vary by machine.
import { benchImport } from './import.ts';

console.log(`# Exemplar benchmarks (${new Date().toISOString()}, node ${process.version})`);
await benchImport();
