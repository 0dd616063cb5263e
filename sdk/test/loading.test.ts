/**
 * Loading backbones the way a package user does: ids typed by modality, bare .onnx files that
 * must say which output is the embedding, and model files from a folder of the user's own.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { IntegrityError, InvalidInputError, NotFoundError } from '../src/core/errors.js';
import { loadBackbone, type KnownBackbones } from '../src/node.js';
import { loadModelFilesNode } from '../src/manifest/files-node.js';
import { parseManifest } from '../src/manifest/manifest.js';
import { REPO, SHARED, manifest } from './helpers.js';

// Must list exactly KnownBackbones' keys with their modalities, or this file does not type-check.
const typed: { [Id in keyof KnownBackbones]: KnownBackbones[Id] } = {
  'mobilenetv2-int8': 'image',
  'use-lite': 'text',
  'openwakeword-embedding': 'audio',
};

describe('the published catalogue', () => {
  it('KnownBackbones (the type behind loadBackbone overloads) matches the manifests the package ships', async () => {
    const dir = join(REPO, 'sdk', 'dist', 'manifests');
    const shipped: Record<string, string> = {};
    for (const name of await readdir(dir)) {
      const m = parseManifest(JSON.parse(await readFile(join(dir, name), 'utf8')));
      shipped[m.id] = m.modality;
    }
    expect(shipped).toEqual(typed);
  });

  it('every shipped backbone has a source outside this repository (a URL or an npm package)', async () => {
    const dir = join(REPO, 'sdk', 'dist', 'manifests');
    for (const name of await readdir(dir)) {
      const m = parseManifest(JSON.parse(await readFile(join(dir, name), 'utf8')));
      for (const [key, file] of Object.entries(m.files)) {
        expect(file.sources.some((s) => 'url' in s || 'package' in s), `${m.id}/${key}`).toBe(true);
      }
    }
  });
});

describe('bare .onnx files', () => {
  const withTwoOutputs = join(SHARED, 'models', 'mobilenetv2-12-int8-features.onnx');

  it('a file with several outputs is refused until told which is the embedding, and the error lists them', async () => {
    const error = await loadBackbone(withTwoOutputs).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as Error).message).toMatch(/has 2 outputs: .*output \[.*1000\].*features \[.*1280\].*--output/);
  });

  it('{ output } picks a declared output; a name that is not one is refused with the list', async () => {
    const { backbone } = await loadBackbone(withTwoOutputs, { output: 'features', device: 'node' });
    try {
      expect(backbone.modality).toBe('image');
      expect(backbone.dim).toBe(1280); // the features, not the 1000 ImageNet logits
    } finally {
      await backbone.dispose();
    }
    await expect(loadBackbone(withTwoOutputs, { output: 'logits' })).rejects.toThrow(/has no output "logits"; its outputs are output .*features/);
  });

  it('a file with one output uses it', async () => {
    const { backbone } = await loadBackbone(join(SHARED, 'models', 'mobilenetv2-12-int8.onnx'), { device: 'node' });
    try {
      expect(backbone.dim).toBe(1000);
    } finally {
      await backbone.dispose();
    }
  });
});

describe('modelDir: model files the user downloaded', () => {
  const int8 = manifest('mobilenetv2-int8');
  // No shared folder and downloads off: only the folder can provide the file.
  const offline = { sharedDir: '/nonexistent', download: false } as const;

  it('finds a file by its source file name and checks its sha256', async () => {
    const files = await loadModelFilesNode(int8, { ...offline, modelDir: join(SHARED, 'models') });
    expect(createHash('sha256').update(files.model).digest('hex')).toBe(int8.files.model.sha256);
  });

  it('a different file under that name is an IntegrityError, not a silent fallback', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'edgehead-models-'));
    await writeFile(join(dir, 'mobilenetv2-12-int8.onnx'), 'not the model');
    await expect(loadModelFilesNode(int8, { ...offline, modelDir: dir })).rejects.toBeInstanceOf(IntegrityError);
  });

  it('when nothing is found, the error says what was tried and how to give a local copy', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'edgehead-models-'));
    const error = (await loadModelFilesNode(int8, { ...offline, modelDir: dir }).catch((e: unknown) => e)) as Error;
    expect(error).toBeInstanceOf(NotFoundError);
    expect(error.message).toContain(join(dir, 'mobilenetv2-12-int8.onnx'));
    expect(error.message).toContain('downloads disabled');
    expect(error.message).toMatch(/modelDir.*EDGEHEAD_MODEL_DIR/);
    expect(error.message).toContain(int8.files.model.sha256);
  });
});
