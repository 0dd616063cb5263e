/**
 * The edgehead edge worker: stores heads (D1 + R2), serves classification, and keeps online
 * examples of kNN/centroid heads in a Durable Object.
 * @module
 */
import { createApp } from './app.js';

export { AliasDirectory } from './durable/alias-directory.js';
export { HeadState } from './durable/head-state.js';
export default createApp();
