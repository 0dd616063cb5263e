/**
 * Manifest + files → the right Backbone implementation.
 * @module
 */
import type { AudioClip } from '../inputs/audio/audio.js';
import type { DecodedImage } from '../inputs/image/image.js';
import type { ModelFiles } from '../manifest/files.js';
import type { ImageManifest, Manifest, Modality, OpenWakeWordManifest, TextOnnxManifest, UseManifest } from '../manifest/manifest.js';
import type { Backbone, BackboneOptions } from './backbone.js';
import { OpenWakeWordBackbone } from './audio/openwakeword-backbone.js';
import { OnnxImageBackbone } from './onnx/image-backbone.js';
import { OnnxTextBackbone } from './onnx/text-backbone.js';
import { UseBackbone, type TfjsOptions } from './tfjs/use-backbone.js';

export type ImageBackbone = Backbone<DecodedImage, 'image'>;
export type TextBackbone = Backbone<string, 'text'>;
export type AudioBackbone = Backbone<AudioClip, 'audio'>;
/** Narrow with `backbone.modality === 'image'` (or load with a known id / `modality` option). */
export type AnyBackbone = ImageBackbone | TextBackbone | AudioBackbone;
/** The backbone type for a modality. */
export type BackboneFor<M extends Modality> = Extract<AnyBackbone, { modality: M }>;

export interface CreateBackboneOptions extends BackboneOptions, TfjsOptions {}

export function createBackbone(manifest: ImageManifest, files: ModelFiles, options?: CreateBackboneOptions): Promise<ImageBackbone>;
export function createBackbone(manifest: TextOnnxManifest | UseManifest, files: ModelFiles, options?: CreateBackboneOptions): Promise<TextBackbone>;
export function createBackbone(manifest: OpenWakeWordManifest, files: ModelFiles, options?: CreateBackboneOptions): Promise<AudioBackbone>;
export function createBackbone(manifest: Manifest, files: ModelFiles, options?: CreateBackboneOptions): Promise<AnyBackbone>;
export async function createBackbone(manifest: Manifest, files: ModelFiles, options: CreateBackboneOptions = {}): Promise<AnyBackbone> {
  switch (manifest.format) {
    case 'onnx':
      return manifest.modality === 'image'
        ? OnnxImageBackbone.create(manifest, files, options)
        : OnnxTextBackbone.create(manifest, files, options);
    case 'tfjs-use':
      return UseBackbone.create(manifest, files, options);
    case 'openwakeword':
      return OpenWakeWordBackbone.create(manifest, files, options);
  }
}
