import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  EmulatorRefusedError,
  emulatorRefusal,
  startEmulator,
  type RunningEmulator,
} from './emulator';
import { parseMultipart } from './multipart';
import { LOGIN_COOKIE } from './oauth-routes';

const REDIRECT = 'https://app.example.com/instagram/oauth/callback';
let emu: RunningEmulator;

beforeAll(async () => {
  emu = await startEmulator({ port: 0 });
});
afterAll(async () => {
  await emu.close();
});
beforeEach(() => {
  emu.state.reset();
});

const json = <T>(response: Response) => response.json() as Promise<T>;
interface GraphErrorBody {
  error: { code: number; error_subcode?: number; fbtrace_id: string };
}

function authorizeUrl(extra: Record<string, string> = {}): string {
  const params = new URLSearchParams({
    client_id: emu.appId,
    redirect_uri: REDIRECT,
    response_type: 'code',
    scope: 'instagram_business_basic,instagram_business_manage_insights',
    state: 'st-1',
    ...extra,
  });
  return `${emu.url}/oauth/authorize?${params.toString()}`;
}

async function control(method: string, path: string, body?: unknown) {
  const response = await fetch(`${emu.url}/__control${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? null : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

const attr = (tag: string, name: string) =>
  new RegExp(`\\s${name}(?:="([^"]*)")?`, 'i').exec(tag)?.[1] ?? undefined;
const hasAttr = (tag: string, name: string) => new RegExp(`\\s${name}(?=[\\s>=]|$)`, 'i').test(tag);

interface ButtonInfo {
  name?: string;
  value?: string;
  text: string;
  form?: string;
}

/**
 * What a browser makes of the consent page's account form, by the HTML rules that matter here:
 * a control belongs to the form named by its `form` attribute, else to the form around it, and
 * the form's default button (what Enter submits) is its first submit button in tree order.
 */
function consentForm(html: string): {
  accounts: Array<{ value: string; checked: boolean }>;
  defaultButton?: ButtonInfo;
  otherButtons: ButtonInfo[];
  switchUrl?: string;
} {
  const tokens = html.matchAll(/<(\/?)(form|button|input|a)\b([^>]*)>([^<]*)/gi);
  let current: string | undefined;
  let accountForm: string | undefined;
  const accounts: Array<{ value: string; checked: boolean }> = [];
  const buttons: Array<ButtonInfo & { owner?: string; submit: boolean }> = [];
  let switchUrl: string | undefined;
  for (const [, closing, tagName, rest = '', text = ''] of tokens) {
    const tag = ` ${rest}`;
    const name = tagName!.toLowerCase();
    if (name === 'form') {
      current = closing ? undefined : attr(tag, 'id');
    } else if (closing) {
      continue;
    } else if (name === 'input' && attr(tag, 'name') === 'account') {
      accountForm = attr(tag, 'form') ?? current;
      accounts.push({ value: attr(tag, 'value') ?? '', checked: hasAttr(tag, 'checked') });
    } else if (name === 'button') {
      const form = attr(tag, 'form');
      buttons.push({
        ...(attr(tag, 'name') !== undefined ? { name: attr(tag, 'name')! } : {}),
        ...(attr(tag, 'value') !== undefined ? { value: attr(tag, 'value')! } : {}),
        text: text.trim(),
        ...(form !== undefined ? { form } : {}),
        owner: form ?? current,
        submit: (attr(tag, 'type') ?? 'submit') === 'submit',
      });
    } else if (name === 'a' && /another account/i.test(text)) {
      switchUrl = attr(tag, 'href')?.replaceAll('&amp;', '&');
    }
  }
  const index = buttons.findIndex((b) => b.submit && b.owner === accountForm);
  const strip = ({ owner: _owner, submit: _submit, ...rest }: (typeof buttons)[number]) => rest;
  return {
    accounts,
    ...(index >= 0 ? { defaultButton: strip(buttons[index]!) } : {}),
    otherButtons: buttons.filter((_, i) => i !== index).map(strip),
    ...(switchUrl !== undefined ? { switchUrl } : {}),
  };
}

/** The hidden fields a form of the page posts. */
function formFields(html: string, formId: string): Record<string, string> {
  const body = new RegExp(`<form id="${formId}"[^>]*>([\\s\\S]*?)</form>`).exec(html)?.[1] ?? '';
  const fields: Record<string, string> = {};
  for (const [tag] of body.matchAll(/<input type="hidden"[^>]*>/g)) {
    fields[attr(tag, 'name')!] = attr(tag, 'value')!.replaceAll('&amp;', '&');
  }
  return fields;
}

/** WCAG 2 contrast ratio of two sRGB colours (#rgb or #rrggbb). */
function contrast(a: string, b: string): number {
  const luminance = (hex: string) => {
    const full = hex.length === 4 ? [...hex.slice(1)].map((c) => c + c).join('') : hex.slice(1);
    const [r, g, bl] = [0, 2, 4].map((i) => {
      const c = parseInt(full.slice(i, i + 2), 16) / 255;
      return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r! + 0.7152 * g! + 0.0722 * bl!;
  };
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi! + 0.05) / (lo! + 0.05);
}

describe('emulator', () => {
  it('refuses to start in production', async () => {
    await expect(startEmulator({ env: 'production' })).rejects.toThrow(/NODE_ENV=production/);
  });

  it('runs only in an environment named development or test', async () => {
    for (const env of ['staging', 'Production', 'prod', 'live', '']) {
      await expect(startEmulator({ env, port: 0 })).rejects.toThrow(EmulatorRefusedError);
    }
    // `npm run emulator` must say which: an unset NODE_ENV is not development.
    expect(emulatorRefusal(undefined)).toMatch(/NODE_ENV=development/);
    expect(emulatorRefusal('staging')).toMatch(/NODE_ENV=staging/);
    expect(emulatorRefusal('development')).toBeUndefined();
    expect(emulatorRefusal('test')).toBeUndefined();
    const running = await startEmulator({ env: 'development', port: 0, seed: false });
    await running.close();
  });

  it('shows a consent page listing the demo accounts', async () => {
    const response = await fetch(authorizeUrl());
    expect(response.status).toBe(200);
    const html = await response.text();
    expect(html).toContain('metricsaurus');
    expect(html).toContain('lena.bakes');
    expect(html).toContain('name="decision" value="approve"');
    expect(html).toContain('instagram_business_manage_insights');
  });

  it.each([
    [{ client_id: '123' }, 'Invalid platform app'],
    [{ redirect_uri: '' }, 'Invalid redirect_uri'],
    [{ scope: 'instagram_basic' }, 'Invalid Scopes'],
    [{ response_type: 'token' }, 'Invalid response_type'],
  ])('rejects a bad dialog request %j', async (extra, message) => {
    const response = await fetch(authorizeUrl(extra));
    expect(response.status).toBe(400);
    expect(await response.text()).toContain(message);
  });

  it('approves with the test shortcut and the form, and denies', async () => {
    const approved = await fetch(authorizeUrl({ __approve: 'lena.bakes' }), { redirect: 'manual' });
    expect(approved.status).toBe(302);
    const location = new URL(approved.headers.get('location')!);
    expect(location.origin + location.pathname).toBe(REDIRECT);
    expect(location.searchParams.get('code')).toMatch(/^AQ/);
    expect(location.searchParams.get('state')).toBe('st-1');
    expect(location.hash).toBe('#_');

    const form = new URLSearchParams({
      client_id: emu.appId,
      redirect_uri: REDIRECT,
      response_type: 'code',
      scope: 'instagram_business_basic',
      state: 'st-2',
      account: '17841405822304914',
      decision: 'approve',
    });
    const posted = await fetch(`${emu.url}/oauth/authorize`, {
      method: 'POST',
      body: form,
      redirect: 'manual',
    });
    expect(posted.status).toBe(302);
    expect(posted.headers.get('location')).toMatch(/[?&]code=AQ.*state=st-2#_$/);

    const denied = await fetch(authorizeUrl({ __deny: '1' }), { redirect: 'manual' });
    expect(denied.headers.get('location')).toBe(
      `${REDIRECT}?error=access_denied&error_reason=user_denied&error_description=The+user+denied+your+request&state=st-1`,
    );
  });

  it('remembers who approved, and shows every account again with force_reauth=true', async () => {
    // Allow through the form as metricsaurus: the browser is now "logged in" as it.
    const allowed = await fetch(`${emu.url}/oauth/authorize`, {
      method: 'POST',
      body: new URLSearchParams({
        ...Object.fromEntries(new URL(authorizeUrl()).searchParams),
        account: 'metricsaurus',
        decision: 'approve',
      }),
      redirect: 'manual',
    });
    expect(allowed.status).toBe(302);
    const setCookie = allowed.headers.getSetCookie().find((c) => c.startsWith(`${LOGIN_COOKIE}=`));
    expect(setCookie?.split(';').map((part) => part.trim())).toEqual(
      expect.arrayContaining([
        `${LOGIN_COOKIE}=17841405822304914`,
        'Path=/oauth/authorize',
        'HttpOnly',
        'SameSite=Lax',
      ]),
    );
    const cookie = { cookie: setCookie!.split(';')[0]! };

    // Without force_reauth: only the logged-in account, and a way to use another one.
    const remembered = consentForm(await (await fetch(authorizeUrl(), { headers: cookie })).text());
    expect(remembered.accounts).toEqual([{ value: '17841405822304914', checked: true }]);
    expect(remembered.switchUrl).toBeDefined();
    const switchUrl = new URL(remembered.switchUrl!, emu.url);
    expect(switchUrl.searchParams.get('force_reauth')).toBe('true');
    expect(switchUrl.searchParams.get('state')).toBe('st-1');

    // With it: every demo account, the logged-in one preselected, whatever the cookie says.
    for (const url of [authorizeUrl({ force_reauth: 'true' }), switchUrl.toString()]) {
      const choice = consentForm(await (await fetch(url, { headers: cookie })).text());
      expect(choice.accounts.map((a) => a.value).sort()).toEqual(
        emu.state
          .listAccounts()
          .map((a) => a.userId)
          .sort(),
      );
      expect(choice.accounts.filter((a) => a.checked)).toEqual([
        { value: '17841405822304914', checked: true },
      ]);
      expect(choice.switchUrl).toBeUndefined();
    }

    // …so the person can approve another account than the logged-in one.
    const other = await fetch(`${emu.url}/oauth/authorize`, {
      method: 'POST',
      headers: cookie,
      body: new URLSearchParams({
        ...Object.fromEntries(new URL(authorizeUrl({ force_reauth: 'true' })).searchParams),
        account: emu.state.findAccount('lena.bakes')!.userId,
        decision: 'approve',
      }),
      redirect: 'manual',
    });
    const code = new URL(other.headers.get('location')!).searchParams.get('code')!;
    expect(emu.state.accountOfCode(code)?.username).toBe('lena.bakes');

    // A browser nobody logged in with sees every account, the first preselected.
    const fresh = consentForm(await (await fetch(authorizeUrl())).text());
    expect(fresh.accounts).toHaveLength(emu.state.listAccounts().length);
    expect(fresh.accounts[0]).toEqual({ value: expect.any(String), checked: true });
    expect(fresh.switchUrl).toBeUndefined();
  });

  it('submits Allow, not Cancel, when the person presses Enter', async () => {
    const html = await (await fetch(authorizeUrl())).text();
    const form = consentForm(html);
    // Enter submits the form of the focused radio with its default button.
    expect(form.defaultButton).toEqual({ name: 'decision', value: 'approve', text: 'Allow' });
    // Cancel still denies, through its own form, and comes first in the tab order as on screen.
    expect(form.otherButtons).toEqual([
      { name: 'decision', value: 'deny', text: 'Cancel', form: 'consent-deny' },
    ]);
    const deny = new URLSearchParams(formFields(html, 'consent-deny'));
    deny.set('decision', 'deny');
    const denied = await fetch(`${emu.url}/oauth/authorize`, {
      method: 'POST',
      body: deny,
      redirect: 'manual',
    });
    expect(denied.headers.get('location')).toContain('error=access_denied');
  });

  it('gives the Allow button at least 4.5:1 contrast', async () => {
    const html = await (await fetch(authorizeUrl())).text();
    const rule = /\.approve\{background:(#[0-9a-f]{6});color:(#[0-9a-f]{6}|#fff)\}/i.exec(html);
    expect(rule).not.toBeNull();
    const ratio = contrast(rule![1]!, rule![2]!);
    expect(ratio).toBeGreaterThanOrEqual(4.5);
    // The check itself: Instagram's own blue under white fails it.
    expect(contrast('#0095f6', '#ffffff')).toBeCloseTo(3.17, 2);
  });

  it('exchanges a code once, from a multipart form, bound to its redirect_uri', async () => {
    const { body } = await control('POST', '/authorize', {
      account: 'metricsaurus',
      redirectUri: REDIRECT,
    });
    const exchange = (code: string, redirectUri = REDIRECT) => {
      const form = new FormData();
      form.set('client_id', emu.appId);
      form.set('client_secret', emu.appSecret);
      form.set('grant_type', 'authorization_code');
      form.set('redirect_uri', redirectUri);
      form.set('code', code);
      return fetch(`${emu.url}/oauth/access_token`, { method: 'POST', body: form });
    };
    const first = await exchange(body.code);
    expect(first.status).toBe(200);
    const token = await json<{ access_token: string }>(first);
    expect(token).toMatchObject({
      user_id: '9007199254740993',
      permissions: ['instagram_business_basic'],
    });
    expect(token.access_token).toMatch(/^IGAA[\w-]+$/);

    const again = await exchange(body.code);
    expect(again.status).toBe(400);
    expect(await again.json()).toEqual({
      error_type: 'OAuthException',
      code: 400,
      error_message: 'Matching code was not found or was already used',
    });

    const other = await control('POST', '/authorize', {
      account: 'metricsaurus',
      redirectUri: REDIRECT,
    });
    const mismatch = await exchange(other.body.code, 'https://evil.example.com/cb');
    expect(mismatch.status).toBe(400);
    expect((await json<{ error_message: string }>(mismatch)).error_message).toMatch(/redirect_uri/);
  });

  it('serves signed profile pictures that expire', async () => {
    const { body } = await control('POST', '/accounts/metricsaurus/tokens', { kind: 'long' });
    const me = await fetch(
      `${emu.url}/v25.0/me?fields=profile_picture_url&access_token=${body.accessToken}`,
    );
    const pictureUrl = new URL(
      (await json<{ profile_picture_url: string }>(me)).profile_picture_url,
    );
    expect(pictureUrl.searchParams.get('oe')).toMatch(/^[0-9A-F]+$/);
    expect(pictureUrl.searchParams.get('oh')).toMatch(/^00_/);

    const picture = await fetch(pictureUrl);
    expect(picture.status).toBe(200);
    expect(picture.headers.get('content-type')).toBe('image/png');
    const bytes = Buffer.from(await picture.arrayBuffer());
    expect(bytes.subarray(0, 8)).toEqual(
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    );
    // IHDR: 150 × 150, 8-bit RGBA.
    expect(bytes.readUInt32BE(16)).toBe(150);
    expect(bytes.readUInt32BE(20)).toBe(150);
    expect(bytes.length).toBeLessThan(20_000);

    const tampered = new URL(pictureUrl);
    tampered.searchParams.set('oh', '00_x');
    expect((await fetch(tampered)).status).toBe(403);

    emu.state.advanceClock(4 * 24 * 3600 * 1000);
    const expired = await fetch(pictureUrl);
    expect(expired.status).toBe(403);
    expect(await expired.text()).toBe('URL signature expired');
  });

  it('re-signs the same picture path on every call; a new picture has a new path and new bytes', async () => {
    const { body } = await control('POST', '/accounts/lena.bakes/tokens', { kind: 'long' });
    const me = async () =>
      new URL(
        (
          await json<{ profile_picture_url: string }>(
            await fetch(
              `${emu.url}/v25.0/me?fields=profile_picture_url&access_token=${body.accessToken}`,
            ),
          )
        ).profile_picture_url,
      );
    const first = await me();
    emu.state.advanceClock(60_000);
    const again = await me();
    expect(again.pathname).toBe(first.pathname);
    expect(again.searchParams.get('oe')).not.toBe(first.searchParams.get('oe'));
    const before = Buffer.from(await (await fetch(first)).arrayBuffer());

    await control('POST', '/accounts/lena.bakes/picture', {});
    const changed = await me();
    expect(changed.pathname).not.toBe(first.pathname);
    const after = Buffer.from(await (await fetch(changed)).arrayBuffer());
    expect(after.equals(before)).toBe(false);
    // The old link still serves the old picture until it expires.
    expect(Buffer.from(await (await fetch(first)).arrayBuffer()).equals(before)).toBe(true);

    await control('POST', '/accounts/lena.bakes/picture', { kind: 'html' });
    const html = await fetch(await me());
    expect(html.status).toBe(200);
    expect(html.headers.get('content-type')).toContain('text/html');

    await control('POST', '/accounts/lena.bakes/picture', { kind: 'oversized' });
    const huge = await fetch(await me());
    expect(huge.headers.get('content-type')).toBe('image/png');
    expect(huge.headers.get('content-length')).toBeNull();
    expect((await huge.arrayBuffer()).byteLength).toBeGreaterThan(6 * 1024 * 1024 - 1);
  });

  it('puts usage headers and fbtrace_id on Graph errors, 2500 on unknown paths', async () => {
    const response = await fetch(`${emu.url}/v25.0/me?access_token=nope`);
    expect(response.status).toBe(400);
    expect(response.headers.get('x-app-usage')).toMatch(/"call_count":\d+/);
    expect(response.headers.get('www-authenticate')).toContain('invalid_token');
    const body = await json<GraphErrorBody>(response);
    expect(body.error).toMatchObject({ code: 190, error_subcode: 467, type: 'OAuthException' });
    expect(body.error.fbtrace_id).toEqual(expect.any(String));

    const unknown = await fetch(`${emu.url}/v25.0/17841405822304914/media_x/extra`);
    expect((await json<GraphErrorBody>(unknown)).error.code).toBe(2500);
    expect((await control('GET', '/nothing-here')).status).toBe(404);
  });

  it('refreshes without extending when told to, and injects failures for one path only', async () => {
    const { body } = await control('POST', '/accounts/lena.bakes/tokens', {
      kind: 'long',
      ageMs: 30 * 3600 * 1000,
    });
    const refresh = () =>
      fetch(
        `${emu.url}/refresh_access_token?grant_type=ig_refresh_token&access_token=${body.accessToken}`,
      );
    expect((await control('PATCH', '/settings', { refreshExtends: false })).status).toBe(200);
    const same = await json<{ access_token: string; expires_in: number }>(await refresh());
    expect(same.access_token).toBe(body.accessToken);
    const left = (Date.parse(body.expiresAt) - Date.now()) / 1000;
    expect(Math.abs(same.expires_in - left)).toBeLessThan(5);
    await control('PATCH', '/settings', { refreshExtends: true });

    await control('POST', '/inject', { kind: 'transient', path: '/refresh_access_token' });
    const me = await fetch(`${emu.url}/v25.0/me?access_token=${body.accessToken}`);
    expect(me.status).toBe(200);
    expect((await refresh()).status).toBe(500);
    const fresh = await json<{ access_token: string; expires_in: number }>(await refresh());
    expect(fresh.access_token).not.toBe(body.accessToken);
    expect(fresh.expires_in).toBe(5_183_944);
    // Every request counted, beyond what the log keeps.
    const { totals } = (await control('GET', '/requests/totals')).body;
    expect(totals).toEqual({ '/refresh_access_token': 3, '/v25.0/me': 1 });
  });

  it('answers /{ig-user-id} for its own ids only', async () => {
    const { body } = await control('POST', '/accounts/lena.bakes/tokens', { kind: 'long' });
    const auth = { authorization: `Bearer ${body.accessToken}` };
    const own = await fetch(`${emu.url}/v23.0/17841463195712048?fields=username,account_type`, {
      headers: auth,
    });
    expect(await own.json()).toEqual({
      username: 'lena.bakes',
      account_type: 'Media_Creator',
      id: '17841463195712048',
    });
    const other = await fetch(`${emu.url}/v23.0/17841405822304914`, { headers: auth });
    expect((await json<GraphErrorBody>(other)).error).toMatchObject({
      code: 100,
      error_subcode: 33,
    });
  });

  it('manages accounts, settings, clock and the request log through the control API', async () => {
    const created = await control('POST', '/accounts', {
      username: 'new.shop',
      name: 'New Shop',
      followersCount: 5,
    });
    expect(created.status).toBe(201);
    expect(created.body.account.userId).toMatch(/^178414\d{11}$/);
    expect((await control('POST', '/accounts', { username: 'new.shop' })).status).toBe(409);
    expect((await control('POST', '/accounts', { username: 'x', bogus: 1 })).status).toBe(400);

    const patched = await control('PATCH', '/accounts/new.shop', {
      followersCount: 6,
      username: 'renamed',
    });
    expect(patched.body.account).toMatchObject({ followersCount: 6, username: 'renamed' });
    expect((await control('GET', '/accounts/nobody')).status).toBe(404);

    expect(
      (await control('PATCH', '/settings', { meShape: 'wrapped' })).body.settings.meShape,
    ).toBe('wrapped');
    const before = Date.parse((await control('GET', '/clock')).body.now);
    const after = Date.parse((await control('POST', '/clock', { advanceHours: 25 })).body.now);
    expect(after - before).toBeGreaterThanOrEqual(25 * 3600 * 1000);

    await fetch(`${emu.url}/v25.0/me?access_token=abc`);
    const log = await control('GET', '/requests');
    expect(log.body.requests).toHaveLength(1);
    expect(log.body.requests[0]).toMatchObject({ method: 'GET', path: '/v25.0/me', status: 400 });
    expect(log.body.requests[0].query.access_token).toBe('abc');

    expect((await control('POST', '/reset')).status).toBe(204);
    expect((await control('GET', '/settings')).body.settings.meShape).toBe('flat');
    expect((await control('GET', '/requests')).body.requests).toHaveLength(0);
    expect((await control('GET', '/accounts')).body.accounts).toHaveLength(3);
  });

  it('closes promptly while a hang is pending', async () => {
    const other = await startEmulator({ port: 0 });
    other.state.inject({ kind: 'hang', delayMs: 60_000 });
    const pending = fetch(`${other.url}/v25.0/me`).catch(() => 'aborted');
    await new Promise((resolve) => setTimeout(resolve, 50));
    const started = Date.now();
    await other.close();
    expect(Date.now() - started).toBeLessThan(2000);
    await pending;
  });
});

describe('parseMultipart', () => {
  it('reads text fields and rejects malformed bodies', () => {
    const body =
      '--b\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--b\r\nContent-Disposition: form-data; name="c"\r\n\r\nx y\r\n--b--\r\n';
    expect(parseMultipart(body, 'multipart/form-data; boundary=b')).toEqual({ a: '1', c: 'x y' });
    expect(parseMultipart(body, 'multipart/form-data')).toBeUndefined();
    expect(
      parseMultipart('--b\r\nno blank line', 'multipart/form-data; boundary="b"'),
    ).toBeUndefined();
  });
});
