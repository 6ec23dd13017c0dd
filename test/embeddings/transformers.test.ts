import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TRANSFORMERS_PACKAGE, TransformersEmbedding } from '../../src/embeddings/transformers.ts';
import { EmbeddingProviderError, ValidationError } from '../../src/errors.ts';

// @huggingface/transformers is an optional peer dependency (about 470 MB with ONNX Runtime) and is
// not installed for the tests; where someone has installed it, the model-missing path runs instead.
const installed = (() => {
  try {
    createRequire(import.meta.url).resolve(TRANSFORMERS_PACKAGE);
    return true;
  } catch {
    return false;
  }
})();

const emptyDir = fs.mkdtempSync(path.join(os.tmpdir(), 'exemplar-models-'));
afterAll(() => fs.rmSync(emptyDir, { recursive: true, force: true }));

describe('transformers.js embedding', () => {
  it('knows the default model and its size without loading anything', () => {
    const e = new TransformersEmbedding();
    expect(e.modelId).toBe('transformers:Xenova/all-MiniLM-L6-v2@384');
    expect(e.dimensions).toBe(384);
    expect(() => new TransformersEmbedding({ model: 'someone/unknown-model' })).toThrow(ValidationError);
    expect(new TransformersEmbedding({ model: 'someone/unknown-model', dimensions: 512 }).modelId).toBe(
      'transformers:someone/unknown-model@512',
    );
  });

  it.runIf(!installed)('says how to install the package when it is missing', async () => {
    const err = await new TransformersEmbedding({ modelDir: emptyDir, allowRemoteModels: false }).embed(['x']).catch((x) => x);
    expect(err).toBeInstanceOf(EmbeddingProviderError);
    expect(err.message).toContain('not installed');
    expect(err.message).toContain(`npm install ${TRANSFORMERS_PACKAGE}`);
    // The failure is not remembered: the next call tries again (and fails the same way here).
    await expect(new TransformersEmbedding().embed(['x'])).rejects.toThrow(/not installed/);
  });

  it.runIf(installed)('says where it looked and how to fix it when the model is missing', async () => {
    const err = await new TransformersEmbedding({ modelDir: emptyDir, allowRemoteModels: false }).embed(['x']).catch((x) => x);
    expect(err).toBeInstanceOf(EmbeddingProviderError);
    expect(err.message).toContain('could not be loaded');
    expect(err.message).toContain(path.join(emptyDir, 'Xenova/all-MiniLM-L6-v2'));
    expect(err.message).toContain('EXEMPLAR_TRANSFORMERS_DIR');
    const missingFolder = path.join(emptyDir, 'no-such-model');
    const err2 = await new TransformersEmbedding({ model: missingFolder, dimensions: 384 }).embed(['x']).catch((x) => x);
    expect(err2).toBeInstanceOf(EmbeddingProviderError);
    expect(err2.message).toContain(missingFolder);
  });
});
