// The accounts page: plain browser JavaScript against the same-origin API, authenticated by the
// HttpOnly session cookie. No build step, so `npm start` serves it as is.
'use strict';

const $ = (id) => document.getElementById(id);
let mode = 'login';
let nextCursor = null;

async function api(method, path, body) {
  const res = await fetch(path, {
    method,
    credentials: 'same-origin',
    headers: body ? { 'content-type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  const data = text ? JSON.parse(text) : undefined;
  if (!res.ok) {
    const error = new Error((data && data.message) || `HTTP ${res.status}`);
    error.status = res.status;
    throw error;
  }
  return data;
}

function banner(message, isError) {
  const el = $('banner');
  el.textContent = message;
  el.className = isError ? 'error' : '';
  el.hidden = !message;
}

const STATUS_TEXT = {
  active: 'Active',
  token_expired: 'Reconnect needed',
  disconnected: 'Disconnected',
  rate_limited: 'Rate limited',
  error: 'Error',
};

const number = (n) => (typeof n === 'number' ? n.toLocaleString() : '–');
const when = (iso) => (iso ? new Date(iso).toLocaleString() : 'never');

function avatar(account) {
  const box = document.createElement('div');
  box.className = 'avatar';
  const initial = (account.username || '?').slice(0, 1).toUpperCase();
  if (account.profilePictureUrl) {
    const img = document.createElement('img');
    img.alt = '';
    img.referrerPolicy = 'no-referrer';
    img.src = account.profilePictureUrl;
    // Instagram picture URLs expire; show the initial instead of a broken image.
    img.onerror = () => {
      box.textContent = initial;
    };
    box.append(img);
  } else {
    box.textContent = initial;
  }
  return box;
}

function accountItem(account) {
  const li = document.createElement('li');
  li.className = 'account';
  li.dataset.id = account.id;
  const body = document.createElement('div');
  const title = document.createElement('div');
  title.className = 'title';
  const name = document.createElement('strong');
  name.textContent = `@${account.username}`;
  const display = document.createElement('span');
  display.className = 'muted';
  display.textContent = account.displayName || '';
  const badge = document.createElement('span');
  badge.className = `badge ${account.status}`;
  badge.textContent = STATUS_TEXT[account.status] || account.status;
  const type = document.createElement('span');
  type.className = 'muted';
  type.textContent = account.accountType;
  title.append(name, display, badge, type);

  const counts = document.createElement('div');
  counts.className = 'counts';
  counts.innerHTML =
    '<span><b></b> followers</span><span><b></b> following</span><span><b></b> posts</span>';
  const bolds = counts.querySelectorAll('b');
  bolds[0].textContent = number(account.followerCount);
  bolds[1].textContent = number(account.followingCount);
  bolds[2].textContent = number(account.mediaCount);

  const meta = document.createElement('div');
  meta.className = 'muted';
  meta.textContent = `Last synced ${when(account.lastSyncAt)} · token valid until ${when(account.tokenExpiresAt)}`;
  body.append(title, counts, meta);

  if (account.statusDetail) {
    const problem = document.createElement('div');
    problem.className = 'problem';
    problem.textContent = account.statusDetail;
    body.append(problem);
  }

  const actions = document.createElement('div');
  actions.className = 'actions';
  const button = (label, handler, cls) => {
    const b = document.createElement('button');
    b.textContent = label;
    if (cls) b.className = cls;
    b.onclick = async () => {
      b.disabled = true;
      try {
        await handler();
      } catch (error) {
        banner(error.message, true);
        // A failed sync or check changes the account's status: show the new one.
        await load().catch(() => undefined);
      } finally {
        b.disabled = false;
      }
    };
    actions.append(b);
  };
  if (account.status === 'token_expired' || account.status === 'disconnected') {
    button('Reconnect', async () => connect(account.id), 'primary');
  }
  button('Sync now', async () => {
    await api('POST', `/instagram/accounts/${account.id}/sync`);
    banner(`@${account.username} synced.`);
    await load();
  });
  button('Check status', async () => {
    const { status } = await api('POST', `/instagram/accounts/${account.id}/refresh-status`);
    banner(`@${account.username}: ${STATUS_TEXT[status] || status}.`);
    await load();
  });
  button('History', async () => showEvents(account));
  button(
    'Disconnect',
    async () => {
      if (!confirm(`Disconnect @${account.username}? Its token is destroyed.`)) return;
      await api('DELETE', `/instagram/accounts/${account.id}`);
      banner(`@${account.username} disconnected.`);
      await load();
    },
    'danger',
  );
  body.append(actions);
  li.append(avatar(account), body);
  return li;
}

async function load(append) {
  const query = append && nextCursor ? `?cursor=${encodeURIComponent(nextCursor)}` : '';
  const page = await api('GET', `/instagram/accounts${query}`);
  const list = $('account-list');
  if (!append) list.replaceChildren();
  for (const account of page.accounts) list.append(accountItem(account));
  nextCursor = page.nextCursor;
  $('more').hidden = !nextCursor;
  $('total').textContent = `(${page.total})`;
  $('empty').hidden = page.total > 0;
}

const FIELD_NAMES = {
  username: 'username',
  displayName: 'name',
  profilePictureUrl: 'picture',
  followerCount: 'followers',
  followingCount: 'following',
  mediaCount: 'posts',
  biography: 'bio',
  website: 'website',
  accountType: 'account type',
};

function describeChanges(changed) {
  const parts = Object.entries(changed || {}).map(([field, change]) => {
    const name = FIELD_NAMES[field] || field;
    return typeof change.to === 'number'
      ? `${name} ${number(change.from)} → ${number(change.to)}`
      : `${name} changed`;
  });
  return parts.length ? parts.join(', ') : 'no changes';
}

/** One history entry as a sentence a person can read. */
function describeEvent(event) {
  const d = event.data || {};
  switch (event.type) {
    case 'connected':
      return 'Connected';
    case 'reconnected':
      return `Reconnected${d.previousStatus && d.previousStatus !== 'active' ? ` (was ${STATUS_TEXT[d.previousStatus] || d.previousStatus})` : ''}`;
    case 'synced':
      return `Synced: ${describeChanges(d.changed)}`;
    case 'updated':
      return `Edited: ${describeChanges(d.changed)}`;
    case 'status_changed':
      return `Status ${STATUS_TEXT[d.from] || d.from} → ${STATUS_TEXT[d.to] || d.to}${d.code ? ` (code ${d.code}${d.subcode ? `/${d.subcode}` : ''})` : ''}${d.reason ? `: ${d.reason}` : ''}`;
    case 'token_refreshed':
      return `Token refreshed${d.expiresAt ? `, valid until ${when(d.expiresAt)}` : ''}`;
    case 'disconnected':
      return 'Disconnected';
    default:
      return event.type;
  }
}

async function showEvents(account) {
  const { events } = await api('GET', `/instagram/accounts/${account.id}/events?limit=50`);
  $('events-name').textContent = `@${account.username}`;
  const list = $('events-list');
  list.replaceChildren();
  for (const event of events) {
    const li = document.createElement('li');
    const time = document.createElement('span');
    time.className = 'muted';
    time.textContent = `${new Date(event.createdAt).toLocaleString()} `;
    li.append(time, describeEvent(event));
    list.append(li);
  }
  if (events.length === 0) list.textContent = 'Nothing yet.';
  $('events-dialog').showModal();
}

// With an account id it is a reconnect of that account: the server refuses (error=wrong_account)
// an Instagram account other than this one instead of adding it.
async function connect(accountId) {
  const query = accountId ? `&accountId=${encodeURIComponent(accountId)}` : '';
  const { url } = await api('GET', `/instagram/oauth/authorize?format=json${query}`);
  window.location.assign(url);
}

function setMode(next) {
  mode = next;
  const register = mode === 'register';
  $('auth-title').textContent = register ? 'Create an account' : 'Sign in';
  $('auth-submit').textContent = register ? 'Create account' : 'Sign in';
  $('name-row').hidden = !register;
  $('auth-switch-text').textContent = register ? 'Already registered?' : 'No account yet?';
  $('auth-switch').textContent = register ? 'Sign in' : 'Create one';
}

async function showSignedIn(user) {
  $('auth').hidden = true;
  $('accounts').hidden = false;
  $('who').hidden = false;
  $('who-email').textContent = user.email;
  try {
    const info = await api('GET', '/instagram/oauth/info');
    $('demo-note').hidden = !info.demo;
  } catch {
    $('demo-note').hidden = true;
  }
  await load();
}

function showSignedOut() {
  $('auth').hidden = false;
  $('accounts').hidden = true;
  $('who').hidden = true;
}

async function start() {
  const params = new URLSearchParams(window.location.search);
  if (params.get('connected')) banner('Instagram account connected. Its profile is syncing.');
  if (params.get('error'))
    banner(`Connecting failed: ${params.get('error_description') || params.get('error')}`, true);
  if (params.has('connected') || params.has('error')) history.replaceState(null, '', '/');

  $('auth-switch').onclick = () => setMode(mode === 'login' ? 'register' : 'login');
  $('auth-form').onsubmit = async (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    const body = { email: form.get('email'), password: form.get('password') };
    if (mode === 'register' && form.get('name')) body.name = form.get('name');
    try {
      const { user } = await api(
        'POST',
        mode === 'register' ? '/auth/register' : '/auth/login',
        body,
      );
      banner('');
      await showSignedIn(user);
    } catch (error) {
      banner(error.message, true);
    }
  };
  $('logout').onclick = async () => {
    await api('POST', '/auth/logout').catch(() => undefined);
    showSignedOut();
  };
  $('connect').onclick = () => connect().catch((error) => banner(error.message, true));
  $('more').onclick = () => load(true).catch((error) => banner(error.message, true));

  try {
    const { user } = await api('GET', '/auth/me');
    await showSignedIn(user);
  } catch {
    showSignedOut();
  }
}

start();
