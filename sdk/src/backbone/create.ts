/**
 * Manifest + files → the right Backbone implementation.
 * @module
 */
import type { AudioClip } from '../inputs/audio/audio.js';
import type { DecodedImage } from '../inputs/image/image.js';
import type { ModelFiles } from '../manifest/files.js';
import type { Manifest } from '../manifest/manifest.js';
import type { Backbone, BackboneOptions } from './backbone.js';
import { OpenWakeWordBackbone } from './audio/openwakeword-backbone.js';
import { OnnxImageBackbone } from './onnx/image-backbone.js';
import { OnnxTextBackbone } from './onnx/text-backbone.js';
import { UseBackbone, type TfjsOptions } from './tfjs/use-backbone.js';

export type AnyBackbone = Backbone<DecodedImage> | Backbone<string> | Backbone<AudioClip>;

export interface CreateBackboneOptions extends BackboneOptions, TfjsOptions {}

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
