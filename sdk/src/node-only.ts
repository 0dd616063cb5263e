/**
 * What `edgehead/node` resolves to outside Node (browser and Worker bundles): a clear error at
 * import time instead of a bundler failing on `node:fs`.
 * @module
 */
throw new Error(
  'edgehead/node is for Node.js (files, sharp, onnxruntime-node). In browsers and Workers import "edgehead" ' +
    '(models via fetchModelFiles, images via decodeBrowserImage) or "edgehead/heads" (heads only). See docs/browser.md.',
);
