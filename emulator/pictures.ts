import { createHmac, timingSafeEqual } from 'node:crypto';
import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { queryParam, type EmulatorContext } from './context';
import { avatarPng } from './png';
import { DAY_MS, type EmulatorAccount } from './state';

/** Like cdninstagram URLs, pictures expire: `oe` is the hex Unix expiry, `oh` its signature. */
export const PICTURE_TTL_MS = 3 * DAY_MS;
/** The `oversized` picture kind: just past the 5 MB a careful client accepts. */
export const OVERSIZED_PICTURE_BYTES = 6 * 1024 * 1024;

const FILE = /^(\d+)_(\d+)_n\.png$/;

function signature(ctx: EmulatorContext, file: string, oe: string): string {
  const mac = createHmac('sha256', ctx.pictureKey).update(`${file}:${oe}`).digest('base64url');
  return `00_${mac.slice(0, 40)}`;
}

/**
 * A freshly signed link to the account's current picture. The path names the picture (it
 * changes only with a new picture); the query re-signs it on every call, like Instagram's.
 */
export function pictureUrl(ctx: EmulatorContext, origin: string, account: EmulatorAccount): string {
  const oe = Math.floor((ctx.state.now().getTime() + PICTURE_TTL_MS) / 1000)
    .toString(16)
    .toUpperCase();
  const file = `${account.userId}_${account.pictureVersion}_n.png`;
  const url = new URL(`/__pictures/${file}`, origin);
  url.search = new URLSearchParams({
    stp: 'dst-png_s150x150',
    _nc_ht: 'scontent.cdninstagram.emulator',
    oh: signature(ctx, file, oe),
    oe,
  }).toString();
  return url.toString();
}

/** 6 MB declared as a PNG, streamed without a Content-Length: only counting catches it. */
function oversizedBody(): Readable {
  const piece = Buffer.alloc(64 * 1024, 0);
  piece.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= OVERSIZED_PICTURE_BYTES) return void this.push(null);
      sent += piece.length;
      this.push(piece);
    },
  });
}

export function registerPictureRoutes(app: FastifyInstance, ctx: EmulatorContext): void {
  app.get<{ Params: { file: string } }>('/__pictures/:file', async (request, reply) => {
    const { file } = request.params;
    const match = FILE.exec(file);
    const account = match?.[1] ? ctx.state.accounts.get(match[1]) : undefined;
    const version = Number(match?.[2]);
    const oe = queryParam(request, 'oe') ?? '';
    const oh = queryParam(request, 'oh') ?? '';
    if (
      !account ||
      version < 1 ||
      version > account.pictureVersion ||
      !/^[0-9A-F]{1,12}$/i.test(oe)
    ) {
      return reply.code(404).type('text/plain').send('Not Found');
    }
    const expected = Buffer.from(signature(ctx, file, oe.toUpperCase()));
    const given = Buffer.from(oh);
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) {
      return reply.code(403).type('text/plain').send('Bad URL hash');
    }
    if (parseInt(oe, 16) * 1000 <= ctx.state.now().getTime()) {
      return reply.code(403).type('text/plain').send('URL signature expired');
    }
    // An older picture's link still works until it expires, as on the CDN; its bytes are the
    // old picture's.
    const kind = version === account.pictureVersion ? account.pictureKind : 'png';
    if (kind === 'html') {
      return reply
        .type('text/html; charset=utf-8')
        .send('<!doctype html><html><body><h1>Log in to Instagram</h1></body></html>');
    }
    void reply.header('cache-control', 'max-age=1209600, no-transform');
    if (kind === 'oversized') return reply.type('image/png').send(oversizedBody());
    return reply.type('image/png').send(avatarPng(account.userId, version));
  });
}
