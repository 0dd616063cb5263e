/**
 * WAV decoding with wavefile (pure JS, so it runs in browsers and Workers too): PCM 8/16/24/32-bit
 * and float, any rate, mono or multi-channel, mixed down to mono float32 in [-1, 1].
 * @module
 */
import * as wavefile from 'wavefile';
import { UnreadableInputError } from '../../core/errors.js';
import type { AudioClip } from './audio.js';

// wavefile's Node entry is CommonJS (named export under `default`); bundlers use its ESM entry,
// which has no default. Looked up by a computed key so bundlers do not warn about it.
const CJS_DEFAULT = 'default';
const namespace = wavefile as unknown as Record<string, typeof wavefile | undefined>;
const WaveFile: typeof wavefile.WaveFile = namespace[CJS_DEFAULT]?.WaveFile ?? wavefile.WaveFile;
type WaveFile = wavefile.WaveFile;

/** Longest clip decoded by default: the audio backbones embed words and short commands. */
export const MAX_WAV_SECONDS = 120;
/** Sample rates outside this range are a broken header, not audio (a 1 Hz header once asked for 7 GB). */
export const WAV_SAMPLE_RATES = { min: 4000, max: 384_000 } as const;

export interface DecodeWavOptions {
  /** Refuse longer clips (default MAX_WAV_SECONDS); cut long recordings into clips first. */
  maxSeconds?: number;
}

export function decodeWav(bytes: Uint8Array, source = 'audio', options: DecodeWavOptions = {}): AudioClip {
  let wav: WaveFile;
  try {
    wav = new WaveFile(bytes);
  } catch (cause) {
    throw new UnreadableInputError(source, `not a readable WAV file (${(cause as Error).message}). Convert it to PCM WAV first (e.g. ffmpeg -i in.mp3 out.wav).`, { cause });
  }
  // Copy the header fields: toBitDepth() rebuilds wav.fmt in place.
  const fmt = { ...(wav.fmt as { sampleRate: number; numChannels: number; audioFormat: number; bitsPerSample: number }) };
  if (fmt.audioFormat !== 1 && fmt.audioFormat !== 3 && fmt.audioFormat !== 65534) {
    throw new UnreadableInputError(source, `WAV encoding ${fmt.audioFormat} is compressed; only PCM and float WAV are supported. Convert to 16-bit PCM.`);
  }
  // Checked from the header before any sample is converted, so a bad file costs no memory.
  if (!(fmt.sampleRate >= WAV_SAMPLE_RATES.min && fmt.sampleRate <= WAV_SAMPLE_RATES.max)) {
    throw new UnreadableInputError(source, `the WAV header says ${fmt.sampleRate} Hz; audio is ${WAV_SAMPLE_RATES.min}–${WAV_SAMPLE_RATES.max} Hz. The file is damaged or not audio.`);
  }
  const bytesPerFrame = Math.max(1, fmt.numChannels * Math.ceil(fmt.bitsPerSample / 8));
  const seconds = (wav.data as { chunkSize: number }).chunkSize / bytesPerFrame / fmt.sampleRate;
  const maxSeconds = options.maxSeconds ?? MAX_WAV_SECONDS;
  if (seconds > maxSeconds) {
    throw new UnreadableInputError(
      source,
      `the clip is ${seconds.toFixed(1)} s long; the limit is ${maxSeconds} s. Cut it into short clips (e.g. sox in.wav out.wav trim 0 10 : newfile : restart), or raise maxSeconds.`,
    );
  }
  try {
    // Let wavefile do the integer→float scaling (including unsigned 8-bit) exactly.
    if (wav.bitDepth !== '32f') wav.toBitDepth('32f');
  } catch (cause) {
    throw new UnreadableInputError(source, `cannot convert ${fmt.bitsPerSample}-bit samples to float (${(cause as Error).message}).`, { cause });
  }
  const channels = fmt.numChannels;
  const raw = wav.getSamples(false, Float32Array) as unknown as Float32Array | Float32Array[];
  const planes = channels > 1 ? (raw as Float32Array[]) : [raw as Float32Array];
  const length = planes[0]?.length ?? 0;
  if (length === 0) throw new UnreadableInputError(source, 'the WAV file has no samples.');
  const mono = new Float32Array(length);
  for (const plane of planes) for (let i = 0; i < length; i++) mono[i] += plane[i] / planes.length;
  return { samples: mono, sampleRate: fmt.sampleRate };
}
