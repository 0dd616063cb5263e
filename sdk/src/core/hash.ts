/** SHA-256 through WebCrypto, which Node ≥ 20, browsers and Workers all have. */
export async function sha256Hex(data: ArrayBufferView | ArrayBuffer | string): Promise<string> {
  const bytes =
    typeof data === 'string'
      ? new TextEncoder().encode(data)
      : data instanceof ArrayBuffer
        ? new Uint8Array(data)
        : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const digest = await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Stable JSON: object keys sorted, so equal configurations hash equally. */
export function canonicalJson(value: unknown): string {
  const parts: string[] = [];
  writeCanonicalJson(value, (piece) => parts.push(piece));
  return parts.join('');
}

/** Strings longer than this are emitted in slices, so no piece copies a whole multi-MB string. */
const SLICE = 1 << 16;

/** Streams canonical JSON (keys sorted, undefined dropped) to `emit`, piece by piece. */
function writeCanonicalJson(value: unknown, emit: (piece: string) => void): void {
  if (typeof value === 'string' && value.length > SLICE) {
    emit('"');
    for (let i = 0; i < value.length; ) {
      let end = Math.min(value.length, i + SLICE);
      // Never split a surrogate pair: JSON.stringify would escape each half.
      const code = value.charCodeAt(end - 1);
      if (end < value.length && code >= 0xd800 && code <= 0xdbff) end--;
      emit(JSON.stringify(value.slice(i, end)).slice(1, -1));
      i = end;
    }
    emit('"');
    return;
  }
  if (value === null || typeof value !== 'object') {
    emit(JSON.stringify(value) ?? 'null');
    return;
  }
  if (Array.isArray(value)) {
    emit('[');
    value.forEach((v, i) => {
      if (i) emit(',');
      writeCanonicalJson(v, emit);
    });
    emit(']');
    return;
  }
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  emit('{');
  entries.forEach(([k, v], i) => {
    emit(`${i ? ',' : ''}${JSON.stringify(k)}:`);
    writeCanonicalJson(v, emit);
  });
  emit('}');
}

let crcTable: Uint32Array | undefined;

/** CRC-32 (IEEE 802.3, as zlib and PNG use) over UTF-8 text fed piece by piece. Synchronous. */
class Crc32 {
  private crc = 0xffffffff;
  private readonly encoder = new TextEncoder();

  constructor() {
    if (!crcTable) {
      crcTable = new Uint32Array(256);
      for (let n = 0; n < 256; n++) {
        let c = n;
        for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
        crcTable[n] = c >>> 0;
      }
    }
  }

  update(text: string): void {
    const bytes = this.encoder.encode(text);
    const table = crcTable!;
    let crc = this.crc;
    for (let i = 0; i < bytes.length; i++) crc = table[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
    this.crc = crc;
  }

  hex(): string {
    return ((this.crc ^ 0xffffffff) >>> 0).toString(16).padStart(8, '0');
  }
}

/** CRC-32 of a string's UTF-8 bytes, as 8 hex digits. */
export function crc32Hex(text: string): string {
  const crc = new Crc32();
  crc.update(text);
  return crc.hex();
}

/**
 * CRC-32 of `canonicalJson(value)` without building that string: a head file's parameters are
 * tens of MB of base64, and a Worker isolate has 128 MB, so the checksum must not copy them.
 */
export function canonicalJsonCrc32Hex(value: unknown): string {
  const crc = new Crc32();
  writeCanonicalJson(value, (piece) => crc.update(piece));
  return crc.hex();
}
