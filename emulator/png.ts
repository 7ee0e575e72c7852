import { crc32, deflateSync } from 'node:zlib';

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function chunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body) >>> 0);
  return Buffer.concat([length, body, crc]);
}

export type Rgba = readonly [number, number, number, number];

/** An 8-bit RGBA PNG (color type 6), every scanline unfiltered: small and dependency-free. */
export function encodePng(width: number, height: number, pixel: (x: number, y: number) => Rgba) {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.writeUInt8(8, 8); // bit depth
  header.writeUInt8(6, 9); // RGBA
  const stride = width * 4 + 1;
  const raw = Buffer.alloc(stride * height);
  for (let y = 0; y < height; y++) {
    raw[y * stride] = 0; // filter: none
    for (let x = 0; x < width; x++) {
      const [r, g, b, a] = pixel(x, y);
      raw.set([r, g, b, a], y * stride + 1 + x * 4);
    }
  }
  return Buffer.concat([
    SIGNATURE,
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(raw, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

const PALETTE: readonly (readonly [number, number, number])[] = [
  [0x83, 0x3a, 0xb4],
  [0xfd, 0x1d, 0x1d],
  [0xfc, 0xb0, 0x45],
  [0x40, 0x5d, 0xe6],
  [0x58, 0x51, 0xdb],
  [0xc1, 0x35, 0x84],
  [0xe1, 0x30, 0x6c],
];

const cache = new Map<string, Buffer>();

/**
 * A round avatar, 150×150 like Instagram's `s150x150`: a diagonal gradient in two colours
 * picked from the account id and the picture's version, so a new picture has new bytes.
 */
export function avatarPng(userId: string, version: number): Buffer {
  const sum = [...userId].reduce((acc, ch) => acc + ch.charCodeAt(0), 0) + version * 2;
  // The bytes depend on the two colours alone: one encoding per pair (at most seven), not one
  // per account, so serving ten thousand accounts' pictures costs the emulator next to nothing.
  const key = String(sum % PALETTE.length);
  const cached = cache.get(key);
  if (cached) return cached;
  const a = PALETTE[sum % PALETTE.length]!;
  const b = PALETTE[(sum + 3) % PALETTE.length]!;
  const size = 150;
  const png = encodePng(size, size, (x, y) => {
    const dx = x - size / 2 + 0.5;
    const dy = y - size / 2 + 0.5;
    if (dx * dx + dy * dy > (size / 2) * (size / 2)) return [0, 0, 0, 0];
    const t = (x + y) / (2 * size);
    return [
      Math.round(a[0] + (b[0] - a[0]) * t),
      Math.round(a[1] + (b[1] - a[1]) * t),
      Math.round(a[2] + (b[2] - a[2]) * t),
      255,
    ];
  });
  cache.set(key, png);
  return png;
}
