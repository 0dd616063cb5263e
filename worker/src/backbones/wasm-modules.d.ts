// Wrangler (and the vitest pool) compile imported .wasm files at deploy time into modules: the
// only WebAssembly a Worker may instantiate, since compiling bytes at run time is forbidden.
declare module '*.wasm' {
  const compiled: WebAssembly.Module;
  export default compiled;
}
