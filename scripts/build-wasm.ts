// Assembles src/vectors/kernel.wat into kernel.wasm. The .wasm is committed, so users need no build.
import fs from 'node:fs';
import wabtInit from 'wabt';

export async function assembleKernel(): Promise<Uint8Array> {
  const wabt = await wabtInit();
  const source = fs.readFileSync(new URL('../src/vectors/kernel.wat', import.meta.url), 'utf8');
  const module = wabt.parseWat('kernel.wat', source, { simd: true });
  module.validate();
  return module.toBinary({}).buffer;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  fs.writeFileSync(new URL('../src/vectors/kernel.wasm', import.meta.url), await assembleKernel());
  console.log('wrote src/vectors/kernel.wasm');
}
