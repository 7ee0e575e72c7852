import type { ConnectLinkView } from '../../../domain/entities/connect-link.entity';
import { INSTAGRAM_USERNAME } from '../dto/account.dto';
import type { ConnectDoneError } from '../services/connect-link-landing';
import { CONNECT_FAILURES, OAUTH_STATE_TTL_SECONDS } from '../services/instagram-connect.service';

/**
 * The public connect-link pages, rendered on the server: whoever opens a link has no ssell
 * session and may be on a phone, so each page is one self-contained HTML document (no script,
 * inline CSS, the icon as a data URL) that works at any width and in dark mode. Colours are
 * chosen for WCAG AA: text 4.5:1 or more on its background in both schemes (measured ratios
 * beside each colour).
 */

export interface RenderedPage {
  status: number;
  html: string;
}

export function escapeHtml(value: string): string {
  return value
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

const STYLE = `:root{color-scheme:light dark;--bg:#f6f7f9;--card:#fff;--text:#1c1e21;--muted:#5b616e;
--line:#dfe2e7;--accent:#0064e0;--on-accent:#fff;--ok:#1a7f37;--warn:#9a6700;--bad:#b42318}
@media (prefers-color-scheme:dark){:root{--bg:#121417;--card:#1c1f24;--text:#e8eaed;--muted:#aab0b8;
--line:#343941;--accent:#5ea2ff;--on-accent:#0b0d10;--ok:#3fb950;--warn:#d29922;--bad:#ff7b72}}
*{box-sizing:border-box}
body{margin:0;min-height:100vh;display:flex;align-items:flex-start;justify-content:center;
padding:clamp(16px,6vh,64px) 16px;background:var(--bg);color:var(--text);
font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
main{width:100%;max-width:440px;background:var(--card);border:1px solid var(--line);
border-radius:14px;padding:28px 24px}
.brand{margin:0 0 20px;font-weight:700;letter-spacing:.02em;color:var(--muted);font-size:14px}
.icon{width:44px;height:44px;margin-bottom:12px}.icon svg{width:100%;height:100%}
.ok{color:var(--ok)}.warn{color:var(--warn)}.bad{color:var(--bad)}.info{color:var(--accent)}
h1{font-size:22px;line-height:1.3;margin:0 0 12px}
p{margin:0 0 12px}ul{margin:0 0 16px;padding-left:20px}li{margin-bottom:6px}
.muted{color:var(--muted);font-size:14px}
.button{display:flex;align-items:center;justify-content:center;min-height:48px;margin:20px 0 12px;
padding:12px 16px;border-radius:10px;background:var(--accent);color:var(--on-accent);
font-weight:600;text-decoration:none;text-align:center}
.button:hover{filter:brightness(1.08)}
a:focus-visible{outline:3px solid var(--accent);outline-offset:3px}
.account{font-weight:600;overflow-wrap:anywhere}`;

const ICONS = {
  link: '<path d="M10 14a5 5 0 0 0 7.07 0l3-3a5 5 0 0 0-7.07-7.07l-1.5 1.5"/><path d="M14 10a5 5 0 0 0-7.07 0l-3 3a5 5 0 0 0 7.07 7.07l1.5-1.5"/>',
  check: '<circle cx="12" cy="12" r="9"/><path d="m8 12.5 2.5 2.5L16 9.5"/>',
  alert: '<path d="M12 3 2 20h20L12 3z"/><path d="M12 10v4"/><path d="M12 17h.01"/>',
  clock: '<circle cx="12" cy="12" r="9"/><path d="M12 7v5l3 2"/>',
} as const;
type Icon = keyof typeof ICONS;
type Tone = 'ok' | 'warn' | 'bad' | 'info';

const FAVICON =
  "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 32 32'%3E%3Crect width='32' height='32' rx='8' fill='%230064e0'/%3E%3Ctext x='16' y='22' font-size='18' font-family='sans-serif' font-weight='700' fill='white' text-anchor='middle'%3Es%3C/text%3E%3C/svg%3E";

function page(input: {
  status: number;
  title: string;
  icon: Icon;
  tone: Tone;
  /** Already-escaped HTML. */
  body: string;
}): RenderedPage {
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="robots" content="noindex,nofollow"><meta name="referrer" content="no-referrer">
<title>${escapeHtml(input.title)} · ssell</title><link rel="icon" href="${FAVICON}">
<style>${STYLE}</style></head>
<body><main aria-labelledby="title">
<p class="brand">ssell</p>
<div class="icon ${input.tone}" aria-hidden="true"><svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round">${ICONS[input.icon]}</svg></div>
<h1 id="title">${escapeHtml(input.title)}</h1>
${input.body}
</main></body></html>`;
  return { status: input.status, html };
}

const at = (s: string) => `<span class="account">@${escapeHtml(s)}</span>`;

/**
 * The owner as the client knows them, and no more: the name they gave (if any) and the email
 * with its local part cut to the first letter (`Jane Doe (j•••@agency.com)`). The domain is what
 * a client recognises an agency by; the full address is not needed to decide.
 */
export function ownerLabel(owner: { name: string | null; email: string }): string {
  const at = owner.email.lastIndexOf('@');
  const local = at > 0 ? owner.email.slice(0, at) : owner.email;
  const domain = at > 0 ? owner.email.slice(at + 1) : '';
  const masked = `${[...local][0] ?? ''}•••${domain ? `@${domain}` : ''}`;
  const name = owner.name?.trim();
  return name ? `${name} (${masked})` : masked;
}

const EXPIRY_FORMAT = new Intl.DateTimeFormat('en-GB', {
  dateStyle: 'long',
  timeStyle: 'short',
  timeZone: 'UTC',
});

function expiry(date: Date): string {
  return `<time datetime="${date.toISOString()}">${escapeHtml(EXPIRY_FORMAT.format(date))} UTC</time>`;
}

/**
 * An open link: whose workspace the account joins, what happens next, and the one button that
 * starts Instagram's consent. The owner's label (their private note) is not shown.
 */
export function openLinkPage(view: ConnectLinkView, authorizePath: string): RenderedPage {
  const owner = `<strong>${escapeHtml(ownerLabel(view.owner))}</strong>`;
  const reconnect = view.link.accountId !== null ? view.accountUsername : null;
  const intro = reconnect
    ? `<p>${owner} asks you to reconnect the Instagram account ${at(reconnect)} to their ssell workspace.</p>
<p>When Instagram asks, log in as ${at(reconnect)}: another account will be refused.</p>`
    : `<p>${owner} invites you to connect your Instagram professional account to their ssell workspace.</p>`;
  return page({
    status: 200,
    title: reconnect ? 'Reconnect your Instagram account' : 'Connect your Instagram account',
    icon: 'link',
    tone: 'info',
    body: `${intro}
<ul>
<li>You log in on Instagram's own page and choose the account. ssell never sees your password.</li>
<li>The account then appears in their workspace, where they manage it for you: its profile, follower counts and connection.</li>
<li>You can remove access at any time in Instagram's settings, under Apps and websites.</li>
</ul>
<a class="button" href="${escapeHtml(authorizePath)}">Continue with Instagram</a>
<p class="muted">This link works once, until ${expiry(view.link.expiresAt)}. Not expecting it? Close this page: nothing happens unless you continue.</p>`,
  });
}

export type ClosedLink = 'used' | 'expired' | 'revoked' | 'unknown';

const CLOSED: Record<ClosedLink, { status: number; title: string; text: string; icon: Icon }> = {
  used: {
    status: 410,
    title: 'This link was already used',
    text: 'It connected an Instagram account once and cannot be used again. If you need to connect another account, ask the person who sent it for a new link.',
    icon: 'alert',
  },
  expired: {
    status: 410,
    title: 'This link has expired',
    text: 'Connect links work for a limited time. Ask the person who sent it for a new one.',
    icon: 'clock',
  },
  revoked: {
    status: 410,
    title: 'This link was withdrawn',
    text: 'The person who sent it withdrew it. Ask them for a new one if you still need to connect your account.',
    icon: 'alert',
  },
  unknown: {
    status: 404,
    title: 'This link is not valid',
    text: 'Check that you opened the whole link as you received it, or ask the person who sent it for a new one.',
    icon: 'alert',
  },
};

/** A link that cannot be used (404 unknown, 410 used, expired or withdrawn). */
export function closedLinkPage(closed: ClosedLink): RenderedPage {
  const { status, title, text, icon } = CLOSED[closed];
  return page({ status, title, icon, tone: 'warn', body: `<p>${escapeHtml(text)}</p>` });
}

export function tooManyRequestsPage(retryAfterSeconds: number): RenderedPage {
  const wait = Math.max(1, Math.ceil(retryAfterSeconds));
  return page({
    status: 429,
    title: 'Too many requests',
    icon: 'clock',
    tone: 'warn',
    body: `<p>This address has opened connect links too often in a short time. Please wait ${wait} second${wait === 1 ? '' : 's'}, then reload the page.</p>`,
  });
}

/** The query of `/connect/done`, once validated (see `connectDoneUrl`). */
export interface ConnectDoneQuery {
  connected?: string;
  error?: string;
  expected?: string;
  approved?: string;
}

const AGAIN = 'Nothing was changed: open the link you were sent again to retry.';
const CLOSED_ERROR = {
  link_used: 'used',
  link_expired: 'expired',
  link_revoked: 'revoked',
  link_unknown: 'unknown',
} as const satisfies Partial<Record<ConnectDoneError, ClosedLink>>;
type ClosedError = keyof typeof CLOSED_ERROR;
const isClosedError = (error: ConnectDoneError): error is ClosedError =>
  Object.hasOwn(CLOSED_ERROR, error);

function username(value: string | undefined): string | undefined {
  return value !== undefined && INSTAGRAM_USERNAME.test(value) ? value : undefined;
}

function isDoneError(value: string): value is ConnectDoneError {
  return (
    Object.hasOwn(CONNECT_FAILURES, value) ||
    Object.hasOwn(CLOSED_ERROR, value) ||
    ['wrong_account', 'invalid_state', 'state_expired', 'other_browser', 'link_busy'].includes(
      value,
    )
  );
}

/**
 * Where a client's browser lands after Instagram: what happened, in our words only. The query
 * names a code and usernames (checked against Instagram's rule); anything else shows the generic
 * "not valid" answer.
 */
export function connectDonePage(query: ConnectDoneQuery): RenderedPage {
  const connected = username(query.connected);
  if (connected !== undefined && query.error === undefined) {
    return page({
      status: 200,
      title: 'Your Instagram account is connected',
      icon: 'check',
      tone: 'ok',
      body: `<p>Done: ${at(connected)} is now in the workspace of the person who sent you the link. You can close this tab.</p>
<p class="muted">You can remove access at any time in Instagram's settings, under Apps and websites.</p>`,
    });
  }
  const error = query.error !== undefined && isDoneError(query.error) ? query.error : undefined;
  if (error === undefined) return closedLinkPage('unknown');
  if (isClosedError(error)) {
    const { status, title, text, icon } = CLOSED[CLOSED_ERROR[error]];
    return page({
      status,
      title,
      icon,
      tone: 'warn',
      body: `<p>${escapeHtml(text)}</p><p>Nothing was changed.</p>`,
    });
  }
  const refused = (status: number, title: string, body: string): RenderedPage =>
    page({ status, title, icon: 'alert', tone: 'bad', body });
  switch (error) {
    case 'wrong_account': {
      const expected = username(query.expected);
      const approved = username(query.approved);
      if (expected === undefined || approved === undefined) return closedLinkPage('unknown');
      return refused(
        409,
        'That was another Instagram account',
        `<p>This link is for reconnecting ${at(expected)}, but Instagram approved ${at(approved)}.</p>
<p>Nothing was changed. Log in to Instagram as ${at(expected)} (or choose it on Instagram's page), then open the link again.</p>`,
      );
    }
    case 'account_in_use':
      return refused(
        409,
        'Already connected elsewhere',
        `<p>${escapeHtml(CONNECT_FAILURES.account_in_use)}</p><p>Nothing was changed. Ask the person who sent you the link: the account has to be disconnected from the other workspace first.</p>`,
      );
    case 'access_denied':
      return page({
        status: 200,
        title: 'Nothing was connected',
        icon: 'alert',
        tone: 'warn',
        body: `<p>${escapeHtml(CONNECT_FAILURES.access_denied)}</p><p>If you change your mind, open the link you were sent again.</p>`,
      });
    case 'invalid_state':
      return refused(
        400,
        'This connect is not valid',
        `<p>It was already finished or is not valid (for example after going back to Instagram and pressing Allow again).</p><p>${AGAIN}</p>`,
      );
    case 'state_expired':
      return refused(
        400,
        'This connect expired',
        `<p>It has to be finished within ${OAUTH_STATE_TTL_SECONDS / 60} minutes of pressing Continue.</p><p>${AGAIN}</p>`,
      );
    case 'other_browser':
      return refused(
        400,
        'Please finish in one browser',
        '<p>This connect was started in another browser (or another app), so this one cannot finish it.</p><p>Nothing was changed: open the link you were sent in this browser and continue from there.</p>',
      );
    case 'link_busy':
      return refused(
        409,
        'This link is being used right now',
        '<p>Someone is connecting an account through this link at this moment.</p><p>Nothing was changed: wait a minute, then open the link again.</p>',
      );
    default: {
      const upstream = ['rate_limited', 'instagram_unavailable', 'instagram_error'].includes(error);
      const status = error === 'server_error' ? 500 : upstream ? 502 : 400;
      const text = CONNECT_FAILURES[error];
      return refused(status, 'That did not work', `<p>${escapeHtml(text)}</p><p>${AGAIN}</p>`);
    }
  }
}
