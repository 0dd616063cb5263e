/**
 * Inputs that used to hang or take gigabytes: pipes and devices posing as photos, WAV headers
 * with absurd sample rates, hour-long recordings. Each is refused quickly with a clear error.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WaveFile } from 'wavefile';
import { beforeAll, describe, expect, it } from 'vitest';
import { UnreadableInputError } from '../src/core/errors.js';
import { decodeWav, MAX_WAV_SECONDS } from '../src/inputs/audio/wav.js';
import { readImageFile } from '../src/inputs/image/decode-node.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgehead-limits-'));
});

function wav(seconds: number, sampleRate: number): Uint8Array {
  const w = new WaveFile();
  w.fromScratch(1, sampleRate, '16', new Int16Array(Math.round(seconds * sampleRate)).fill(1000));
  return w.toBuffer();
}

describe('input limits', () => {
  it('a named pipe and /dev/zero posing as photos are refused at once, not read forever', async () => {
    const fifo = join(dir, 'pipe.jpg');
    execFileSync('mkfifo', [fifo]);
    const zero = join(dir, 'zero.jpg');
    await symlink('/dev/zero', zero);
    for (const path of [fifo, zero]) {
      // Before the fix these hung (a pipe waits for a writer) or grew without end; now a clear error.
      const error = await readImageFile(path).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(UnreadableInputError);
      expect((error as Error).message).toMatch(/not a regular file/);
    }
  });

  it('a WAV header claiming 1 Hz is refused before any sample is converted', () => {
    const bytes = wav(0.5, 8000);
    new DataView(bytes.buffer, bytes.byteOffset).setUint32(24, 1, true); // fmt sampleRate field
    expect(() => decodeWav(bytes, 'broken.wav')).toThrow(/broken\.wav: the WAV header says 1 Hz/);
  });

  it(`clips longer than ${MAX_WAV_SECONDS} s are refused with the limit and what to do; shorter ones decode`, () => {
    expect(() => decodeWav(wav(MAX_WAV_SECONDS + 30, 8000), 'long.wav')).toThrow(/long\.wav: the clip is 150\.0 s long; the limit is 120 s\. Cut it/);
    const clip = decodeWav(wav(2, 8000), 'ok.wav');
    expect(clip.sampleRate).toBe(8000);
    expect(clip.samples.length).toBe(16000);
    expect(clip.samples[0]).toBeCloseTo(1000 / 32768, 4);
    expect(() => decodeWav(wav(20, 8000), 'custom.wav', { maxSeconds: 10 })).toThrow(/limit is 10 s/);
  });

  it('missing files still say so', async () => {
    await writeFile(join(dir, 'empty.jpg'), '');
    await expect(readImageFile(join(dir, 'missing.jpg'))).rejects.toThrow(/cannot read the file \(ENOENT\)/);
  });
});
