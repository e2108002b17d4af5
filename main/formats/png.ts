/**
 * A minimal writer for 8-bit palette PNGs (colour type 3) with an explicit palette. sharp can
 * write palette PNGs but chooses the palette itself by quantising, so it cannot write pixel
 * values that mean class indices; this writes IHDR, PLTE, one IDAT (zlib) and IEND.
 */
import { deflateSync } from 'node:zlib';

const crcTable = Uint32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = crcTable[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'ascii');
  out.set(data, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

/** `indices`: row-major width x height palette indices; `palette`: RGB triples (at most 256). */
export function encodePalettePng(width: number, height: number, indices: Uint8Array, palette: Uint8Array): Buffer {
  if (width < 1 || height < 1 || indices.length !== width * height) throw new Error(`palette PNG: ${indices.length} indices for ${width}x${height}`);
  if (palette.length % 3 !== 0 || palette.length > 768 || palette.length === 0) throw new Error(`palette PNG: palette of ${palette.length} bytes`);
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 3, 0, 0, 0], 8); // bit depth 8, palette, deflate, no filter method, no interlace
  const rows = Buffer.alloc((width + 1) * height); // each row: filter type 0, then the indices
  for (let y = 0; y < height; y++) rows.set(indices.subarray(y * width, (y + 1) * width), y * (width + 1) + 1);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('PLTE', palette),
    chunk('IDAT', deflateSync(rows)),
    chunk('IEND', new Uint8Array(0)),
  ]);
}
