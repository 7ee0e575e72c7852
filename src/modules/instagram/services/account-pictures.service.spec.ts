import { createHash } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { accountServicesWithFakes } from '../../../../test/fakes/account-services';
import { profileOf } from '../../../../test/fakes/instagram-failures';
import { AccountEventType } from '../../../domain/entities/account-event.entity';
import type { ClientAccount } from '../../../domain/entities/client-account.entity';
import { PictureFetchError } from '../../../infrastructure/http/picture-fetcher';
import { PICTURE_REFRESH_WINDOW_MS, withPicture } from './account-pictures.service';

const TX = { tx: 'unit' } as never;
const HOUR = 3_600_000;
const oe = (date: Date) =>
  Math.floor(date.getTime() / 1000)
    .toString(16)
    .toUpperCase();
const link = (path: string, expires: Date) =>
  `https://scontent.cdninstagram.com${path}?oh=00_sig&oe=${oe(expires)}`;
const bytes = (text: string) => Buffer.from(`\x89PNG\r\n\x1a\n${text}`, 'latin1');
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

let fakes: ReturnType<typeof accountServicesWithFakes>;
beforeEach(() => {
  fakes = accountServicesWithFakes();
  fakes.pictureFetching.mockRestore();
});

const now = new Date('2026-03-01T12:00:00Z');
const later = new Date(now.getTime() + 3 * 24 * HOUR);

/** An account with a kept picture fetched from `path`, its link valid until `expires`. */
function withKept(path: string, expires: Date, content = bytes('a')): ClientAccount {
  return fakes.accounts.seed({
    profilePictureUrl: link(path, expires),
    metadata: {
      picture: { sha256: sha(content), path, sourceExpiresAt: expires, fetchedAt: now },
    },
  });
}

describe('shouldFetch', () => {
  it('downloads a first picture, a new path, a link near its expiry, or after a failure', () => {
    const pictures = fakes.services.pictures;
    const fresh = fakes.accounts.seed();
    expect(pictures.shouldFetch(fresh, link('/v/1_n.jpg', later), now)).toBe(true);

    const kept = withKept('/v/1_n.jpg', later);
    // Re-signed link to the same picture, far from expiry: no download.
    expect(
      pictures.shouldFetch(kept, link('/v/1_n.jpg', new Date(later.getTime() + HOUR)), now),
    ).toBe(false);
    expect(pictures.shouldFetch(kept, link('/v/2_n.jpg', later), now)).toBe(true);
    const nearExpiry = new Date(later.getTime() - PICTURE_REFRESH_WINDOW_MS + HOUR);
    expect(pictures.shouldFetch(kept, link('/v/1_n.jpg', later), nearExpiry)).toBe(true);
    expect(pictures.shouldFetch(kept, undefined, now)).toBe(false);

    const failed = fakes.accounts.seed({
      metadata: {
        ...kept.metadata,
        pictureError: { reason: 'timeout', message: 'slow', at: now },
      },
    });
    expect(pictures.shouldFetch(failed, link('/v/1_n.jpg', later), now)).toBe(true);
  });
});

describe('settle', () => {
  it('keeps new bytes and says the picture changed', async () => {
    const account = withKept('/v/1_n.jpg', later);
    const url = link('/v/2_n.jpg', later);
    const content = bytes('b');
    const picture = { bytes: content, contentType: 'image/png' as const, sha256: sha(content) };
    const settled = await fakes.services.pictures.settle(
      TX,
      account,
      url,
      { ok: true, url, picture },
      now,
    );
    expect(settled).toEqual({
      picture: {
        sha256: sha(content),
        path: '/v/2_n.jpg',
        sourceExpiresAt: new Date(Math.floor(later.getTime() / 1000) * 1000),
        fetchedAt: now,
      },
      pictureError: undefined,
      changed: true,
    });
    expect(fakes.pictureStore.pictures.get(account.id)).toMatchObject({
      sha256: sha(content),
      sourceUrl: url,
    });
  });

  it('a new path to the same bytes, or the same path, is no change', async () => {
    const content = bytes('a');
    const account = withKept('/v/1_n.jpg', later, content);
    const url = link('/v/9_n.jpg', later);
    const picture = { bytes: content, contentType: 'image/png' as const, sha256: sha(content) };
    const moved = await fakes.services.pictures.settle(
      TX,
      account,
      url,
      { ok: true, url, picture },
      now,
    );
    expect(moved.changed).toBe(false);
    const resigned = link('/v/1_n.jpg', new Date(later.getTime() + HOUR));
    const same = await fakes.services.pictures.settle(TX, account, resigned, undefined, now);
    expect(same).toMatchObject({ changed: false, picture: account.metadata.picture });
  });

  it('a failed download keeps the old copy and records why', async () => {
    const account = withKept('/v/1_n.jpg', later);
    const url = link('/v/2_n.jpg', later);
    const error = new PictureFetchError('too_large', 'The picture is larger than 5 MB');
    const settled = await fakes.services.pictures.settle(
      TX,
      account,
      url,
      { ok: false, url, error },
      now,
    );
    expect(settled).toEqual({
      picture: account.metadata.picture,
      pictureError: { reason: 'too_large', message: 'The picture is larger than 5 MB', at: now },
      changed: true,
    });
    expect(withPicture(account.metadata, settled)).toMatchObject({
      picture: account.metadata.picture,
      pictureError: { reason: 'too_large' },
    });
  });

  it('no picture on Instagram: the copy goes', async () => {
    const account = withKept('/v/1_n.jpg', later);
    await fakes.pictureStore.save({
      accountId: account.id,
      bytes: bytes('a'),
      contentType: 'image/png',
      sha256: sha(bytes('a')),
      sourceUrl: account.profilePictureUrl!,
      fetchedAt: now,
    });
    const settled = await fakes.services.pictures.settle(TX, account, undefined, undefined, now);
    expect(settled).toEqual({ picture: undefined, pictureError: undefined, changed: true });
    expect(fakes.pictureStore.pictures.has(account.id)).toBe(false);
    expect(withPicture(account.metadata, settled)).toEqual({});
  });
});

describe('download', () => {
  it('never throws: a failure comes back as a value', async () => {
    const result = await fakes.services.pictures.download(
      'https://scontent.cdninstagram.com/v/1_n.jpg',
    );
    expect(result).toMatchObject({ ok: false, error: { reason: 'network' } });
  });
});

describe('the sync keeps the picture', () => {
  it('downloads with no transaction open, keeps it in the sync, and one snapshot per sync', async () => {
    const content = bytes('sync');
    fakes.fetcher.fetch.mockImplementation(async () => {
      expect(fakes.db.depth, 'picture downloaded inside a transaction').toBe(0);
      return { bytes: content, contentType: 'image/png' as const, sha256: sha(content) };
    });
    const account = fakes.connected();
    const soon = new Date(Date.now() + 3 * 24 * HOUR);
    fakes.nextProfile(profileOf(account, { profilePictureUrl: link('/v/1_n.jpg', soon) }));
    expect((await fakes.services.sync.sync(account.id, 'manual')).status).toBe('synced');
    expect(fakes.fetcher.fetch).toHaveBeenCalledTimes(1);
    expect(fakes.accounts.get(account.id).metadata.picture).toMatchObject({
      sha256: sha(content),
      path: '/v/1_n.jpg',
    });
    expect(fakes.pictureStore.pictures.get(account.id)?.bytes.equals(content)).toBe(true);

    // Re-signed: not downloaded again, and the history does not call it a change.
    fakes.nextProfile(
      profileOf(account, {
        profilePictureUrl: link('/v/1_n.jpg', new Date(soon.getTime() + HOUR)),
      }),
    );
    await fakes.services.sync.sync(account.id, 'manual');
    expect(fakes.fetcher.fetch).toHaveBeenCalledTimes(1);
    const synced = fakes.events.of(account.id, AccountEventType.SYNCED).map((e) => e.data);
    expect(synced[0]!.changed).toHaveProperty('profilePictureUrl');
    expect(synced[1]!.changed).not.toHaveProperty('profilePictureUrl');
    expect(fakes.accounts.snapshots).toHaveLength(2);
    expect(fakes.metrics.capturedAt).toHaveLength(2);
  });

  it('a failed download is recorded and the sync still succeeds', async () => {
    const account = fakes.connected();
    fakes.nextProfile(profileOf(account));
    const outcome = await fakes.services.sync.sync(account.id, 'periodic');
    expect(outcome.status).toBe('synced');
    expect(fakes.accounts.get(account.id)).toMatchObject({
      status: 'active',
      metadata: { pictureError: { reason: 'network' } },
    });
  });
});
