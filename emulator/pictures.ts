import { createHmac, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { queryParam, type EmulatorContext } from './context';
import { avatarSvg } from './html';
import { DAY_MS, type EmulatorAccount } from './state';

/** Like cdninstagram URLs, pictures expire: `oe` is the hex Unix expiry, `oh` its signature. */
export const PICTURE_TTL_MS = 3 * DAY_MS;

function signature(ctx: EmulatorContext, userId: string, oe: string): string {
  const mac = createHmac('sha256', ctx.pictureKey).update(`${userId}:${oe}`).digest('base64url');
  return `00_${mac.slice(0, 40)}`;
}

export function pictureUrl(ctx: EmulatorContext, origin: string, account: EmulatorAccount): string {
  const oe = Math.floor((ctx.state.now().getTime() + PICTURE_TTL_MS) / 1000)
    .toString(16)
    .toUpperCase();
  const url = new URL(`/__pictures/${account.userId}_n.svg`, origin);
  url.search = new URLSearchParams({
    stp: 'dst-svg_s150x150',
    _nc_ht: 'scontent.cdninstagram.emulator',
    oh: signature(ctx, account.userId, oe),
    oe,
  }).toString();
  return url.toString();
}

export function registerPictureRoutes(app: FastifyInstance, ctx: EmulatorContext): void {
  app.get<{ Params: { file: string } }>('/__pictures/:file', async (request, reply) => {
    const match = /^(\d+)_n\.svg$/.exec(request.params.file);
    const account = match?.[1] ? ctx.state.accounts.get(match[1]) : undefined;
    const oe = queryParam(request, 'oe') ?? '';
    const oh = queryParam(request, 'oh') ?? '';
    if (!account || !/^[0-9A-Fa-f]{1,12}$/.test(oe)) {
      return reply.code(404).type('text/plain').send('Not Found');
    }
    const expected = Buffer.from(signature(ctx, account.userId, oe));
    const given = Buffer.from(oh);
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) {
      return reply.code(403).type('text/plain').send('Bad URL hash');
    }
    if (parseInt(oe, 16) * 1000 <= ctx.state.now().getTime()) {
      return reply.code(403).type('text/plain').send('URL signature expired');
    }
    return reply
      .type('image/svg+xml')
      .header('cache-control', 'max-age=1209600, no-transform')
      .send(avatarSvg(account));
  });
}
