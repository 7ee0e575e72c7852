import type { EmulatorAccount } from './state';

export function escapeHtml(value: string): string {
  return value
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

/**
 * The Allow button's colours. Instagram's #0095f6 under white text is 3.17:1; this blue is
 * 5.39:1, above WCAG's 4.5:1 for text.
 */
export const ALLOW_BUTTON = { background: '#0064e0', text: '#ffffff' } as const;

// .note is #6b6b6b so it stays above 4.5:1 on the hovered row (#f5f5f5) too.
const STYLE = `body{font:15px/1.4 system-ui,sans-serif;background:#fafafa;margin:0;padding:40px 16px}
main{max-width:420px;margin:auto;background:#fff;border:1px solid #dbdbdb;border-radius:8px;padding:24px}
h1{font-size:20px;margin:0 0 8px}.note{color:#6b6b6b;font-size:13px}
fieldset{border:0;margin:0;padding:0}legend{font-weight:600;padding:0;margin:8px 0 4px}
label{display:flex;gap:12px;align-items:center;padding:8px;border-radius:6px;cursor:pointer}
label:hover{background:#f5f5f5}img{width:40px;height:40px;border-radius:50%}
ul{padding-left:20px}.buttons{display:flex;gap:8px;margin-top:16px}
button{flex:1;padding:10px;border-radius:8px;border:0;font-weight:600;cursor:pointer}
.approve{background:${ALLOW_BUTTON.background};color:${ALLOW_BUTTON.text}}.deny{background:#efefef;color:#000}`;

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><title>${escapeHtml(title)}</title>
<style>${STYLE}</style></head><body><main>${body}</main></body></html>`;
}

export function errorPage(message: string): string {
  return page(
    'Instagram (emulator)',
    `<h1>Sorry, this page isn't available.</h1><p>${escapeHtml(message)}</p>
<p class="note">Instagram emulator: not the real Instagram.</p>`,
  );
}

export interface ConsentPageInput {
  /** The accounts to choose from, the preselected one first. */
  accounts: Array<{ account: EmulatorAccount; pictureUrl: string }>;
  hidden: Record<string, string>;
  scopes: string[];
  /** Set when only the logged-in account is offered: where "use another account" leads. */
  switchUrl?: string;
}

/**
 * Two forms, so that Enter (implicit submission: the form's first submit button) allows:
 * Cancel sits visually first but belongs to the deny form through its `form` attribute, which
 * keeps the tab order and the visual order the same.
 */
export function consentPage(input: ConsentPageInput): string {
  const hidden = Object.entries(input.hidden)
    .map(([k, v]) => `<input type="hidden" name="${escapeHtml(k)}" value="${escapeHtml(v)}">`)
    .join('');
  const choices = input.accounts
    .map(
      ({ account, pictureUrl }, i) => `<label><input type="radio" name="account"
 value="${escapeHtml(account.userId)}"${i === 0 ? ' checked' : ''}>
<img src="${escapeHtml(pictureUrl)}" alt=""><span><b>${escapeHtml(account.username)}</b><br>
<span class="note">${escapeHtml(account.name ?? '')} · ${escapeHtml(account.accountType)}</span></span></label>`,
    )
    .join('');
  const scopes = input.scopes.map((s) => `<li>${escapeHtml(s)}</li>`).join('');
  const single = input.switchUrl !== undefined;
  const legend = single ? 'Continue as' : 'Choose the account to allow';
  const switchLink = single
    ? `<p class="note">Not you? <a href="${escapeHtml(input.switchUrl ?? '')}">Use another account</a></p>`
    : '';
  return page(
    'Log in with Instagram (emulator)',
    `<h1>Allow access to your Instagram account?</h1>
<p class="note">Instagram emulator: pick a demo account. The app asks for:</p><ul>${scopes}</ul>
<form id="consent-approve" method="post" action="/oauth/authorize">${hidden}
<fieldset><legend>${legend}</legend>${choices || '<p>No accounts.</p>'}</fieldset>${switchLink}
<div class="buttons"><button type="submit" form="consent-deny" class="deny" name="decision" value="deny">Cancel</button>
<button type="submit" class="approve" name="decision" value="approve">Allow</button></div></form>
<form id="consent-deny" method="post" action="/oauth/authorize">${hidden}</form>`,
  );
}
