import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { AccountCard } from './account-card';
import { api, ApiError, errorMessage } from './api';
import type { Capabilities } from './capabilities';
import { goToInstagram } from './connect';
import { EXPIRY_WARNING_DAYS, needsReconnect, STATUS_WORDS, statusSentence } from './describe';
import { daysUntil, localMoment, plural } from './format';
import { focusSoon, useNow } from './hooks';
import type { Landing } from './landing';
import type { Account, AccountEvent, AccountPage } from './types';

/** Cards shown at first and added by "Show more". */
const PAGE = 20;
/** How long a just-connected account may show "Syncing…" before the page stops waiting. */
const FIRST_SYNC_WAIT_MS = 60_000;

export interface Notice {
  kind: 'ok' | 'error';
  text: string;
}

/** Every account, following the cursor (the switcher and the summary need all of them). */
async function loadAllAccounts(): Promise<Account[]> {
  const all: Account[] = [];
  let cursor: string | null = null;
  do {
    const query: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
    const page: AccountPage = await api<AccountPage>(
      'GET',
      `/instagram/accounts?limit=100${query}`,
    );
    all.push(...page.accounts);
    cursor = page.nextCursor;
  } while (cursor);
  return all;
}

/** A connect or reconnect whose queued first sync has not run yet (history is newest first). */
function awaitingFirstSync(events: AccountEvent[]): boolean {
  for (const event of events) {
    if (event.type === 'synced') return false;
    if (event.type === 'connected' || event.type === 'reconnected') return true;
  }
  return false;
}

interface Attention {
  /** The badge's words and colour class. */
  label: string;
  tone: string;
  why: string;
}

/** Why an account needs its owner, in a few words; null when it does not. */
export function attention(account: Account, now: number): Attention | null {
  const label = STATUS_WORDS[account.status];
  switch (account.status) {
    case 'token_expired':
      return { label, tone: account.status, why: 'Instagram no longer accepts its access.' };
    case 'disconnected':
      return { label, tone: account.status, why: 'Syncing is paused until it is reconnected.' };
    case 'error':
      return needsReconnect(account)
        ? {
            label: 'Reconnect needed',
            tone: 'token_expired',
            why: 'Instagram refused a permission it needs.',
          }
        : { label, tone: account.status, why: statusSentence(account) ?? 'The last sync failed.' };
    case 'rate_limited':
      return {
        label,
        tone: account.status,
        why: account.rateLimitedUntil
          ? `Instagram answers again at ${localMoment(account.rateLimitedUntil, now)}.`
          : 'Instagram answers again once the limit lifts.',
      };
    case 'active': {
      if (!account.tokenExpiresAt) return null;
      const days = daysUntil(account.tokenExpiresAt, now);
      if (days >= EXPIRY_WARNING_DAYS) return null;
      return {
        label: 'Access ending',
        tone: 'token_expired',
        why: `Its access to Instagram ends ${days === 0 ? 'today' : `in ${plural(days, 'day', 'days')}`}: reconnect to renew it.`,
      };
    }
  }
}

function landingNotice(landing: Landing, accounts: Account[]): Notice | null {
  const name = (id: string | undefined) => {
    const account = accounts.find((a) => a.id === id);
    return account ? `@${account.username}` : 'the account';
  };
  const expected = landing.reconnecting;
  if (landing.connectedId) {
    const got = name(landing.connectedId);
    if (expected && expected.id !== landing.connectedId) {
      return {
        kind: 'ok',
        text: `Instagram returned ${got}, not @${expected.username}, so ${got} was connected and @${expected.username} is unchanged. To fix @${expected.username}, press its Reconnect button and choose it on Instagram's page.`,
      };
    }
    return {
      kind: 'ok',
      text: `${expected ? 'Reconnected' : 'Connected'} ${got}.`,
    };
  }
  if (!landing.error) return null;
  const description = landing.errorDescription
    ? ` ${landing.errorDescription.replace(/\.?$/, '.')}`
    : '';
  switch (landing.error) {
    case 'wrong_account': {
      const target = expected ? `@${expected.username}` : 'the account you were reconnecting';
      return {
        kind: 'error',
        // The service's sentence names both accounts and the way out; ours stands in without it.
        text: description
          ? `Wrong Instagram account.${description}`
          : `Wrong Instagram account, so nothing was changed. To reconnect ${target}, press Reconnect again and choose ${target} on Instagram's page (if Instagram signs you in as someone else, use another account there).`,
      };
    }
    case 'invalid_state':
      return {
        kind: 'error',
        text: description
          ? `This connection attempt could not be used.${description}`
          : 'This connection attempt had expired or was already used, so nothing was changed. Start again from this page.',
      };
    case 'access_denied':
      return {
        kind: 'error',
        text: "Connecting was cancelled on Instagram's page. Nothing was changed.",
      };
    default:
      return {
        kind: 'error',
        text: `Instagram did not complete the connection.${description || ' Nothing was changed; try again.'}`,
      };
  }
}

export function NoticeBar(props: { notice: Notice; onDismiss: () => void }) {
  return (
    <div class={`notice ${props.notice.kind}`}>
      <p>{props.notice.text}</p>
      <button type="button" class="quiet small" onClick={props.onDismiss}>
        Dismiss<span class="sr-only"> message</span>
      </button>
    </div>
  );
}

export function AccountsView(props: {
  caps: Capabilities;
  landing: Landing;
  onLandingShown: () => void;
  focusHeading: boolean;
}) {
  const { caps, landing, onLandingShown } = props;
  const now = useNow();
  const [accounts, setAccounts] = useState<Account[] | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [visible, setVisible] = useState(PAGE);
  const [currentId, setCurrentId] = useState<string | null>(null);
  const [notice, setNotice] = useState<Notice | null>(null);
  const [pending, setPending] = useState<ReadonlySet<string>>(
    () => new Set(landing.connectedId ? [landing.connectedId] : []),
  );
  const [connecting, setConnecting] = useState(false);
  const heading = useRef<HTMLHeadingElement>(null);

  const upsert = useCallback((account: Account) => {
    setAccounts((list) => {
      if (!list) return list;
      const at = list.findIndex((a) => a.id === account.id);
      if (at === -1) return [account, ...list];
      const next = [...list];
      next[at] = account;
      return next;
    });
    if (account.isCurrent) setCurrentId(account.id);
  }, []);

  const load = useCallback(async () => {
    try {
      const list = await loadAllAccounts();
      setAccounts(list);
      setLoadError(null);
      const current = list.find((a) => a.isCurrent);
      if (current) setCurrentId(current.id);
    } catch (error) {
      setLoadError(errorMessage(error));
    }
  }, []);

  useEffect(() => {
    void load();
  }, [load]);
  useEffect(() => {
    if (props.focusHeading) focusSoon(() => heading.current);
  }, [props.focusHeading]);
  useEffect(() => {
    if (accounts !== null) performance.mark('ssell:first-screen');
    // Only the first list counts.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [accounts === null]);

  // The current account comes with the list (isCurrent) or from its own route.
  useEffect(() => {
    if (
      caps.current !== true ||
      accounts === null ||
      accounts.some((a) => a.isCurrent !== undefined)
    )
      return;
    api<Account>('GET', '/instagram/accounts/current').then(
      (account) => setCurrentId(account.id),
      () => setCurrentId(null),
    );
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [caps.current, accounts === null]);

  // What the OAuth callback said, once the accounts it names are known.
  useEffect(() => {
    if (accounts === null || (!landing.connectedId && !landing.error)) return;
    setNotice(landingNotice(landing, accounts));
    onLandingShown();
  }, [accounts, landing, onLandingShown]);

  // "Syncing…" after a connect resolves by itself: poll until the queued first sync is recorded.
  useEffect(() => {
    if (pending.size === 0) return;
    const deadline = Date.now() + FIRST_SYNC_WAIT_MS;
    let stopped = false;
    const done = (id: string) =>
      setPending((set) => {
        const next = new Set(set);
        next.delete(id);
        return next;
      });
    const tick = async () => {
      for (const id of pending) {
        try {
          const [account, { events }] = await Promise.all([
            api<Account>('GET', `/instagram/accounts/${id}`),
            api<{ events: AccountEvent[] }>('GET', `/instagram/accounts/${id}/events?limit=5`),
          ]);
          if (stopped) return;
          upsert(account);
          if (!awaitingFirstSync(events) || account.status !== 'active' || Date.now() > deadline)
            done(id);
        } catch {
          if (!stopped) done(id);
        }
      }
    };
    void tick();
    const timer = setInterval(() => void tick(), 1500);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, [pending, upsert]);

  const connect = async () => {
    if (connecting) return;
    setConnecting(true);
    setNotice(null);
    try {
      await goToInstagram();
    } catch (error) {
      setConnecting(false);
      setNotice({ kind: 'error', text: `Could not start connecting: ${errorMessage(error)}` });
    }
  };

  const makeCurrent = async (account: Account) => {
    const previous = currentId;
    setCurrentId(account.id);
    try {
      await api<Account>('PUT', '/instagram/accounts/current', { accountId: account.id });
      setNotice({ kind: 'ok', text: `Now working in @${account.username}.` });
    } catch (error) {
      setCurrentId(previous);
      setNotice({
        kind: 'error',
        text: `Could not switch to @${account.username}: ${errorMessage(error)}`,
      });
      if (error instanceof ApiError && error.status === 404) void load();
    }
  };

  const removed = (account: Account) => {
    if (!accounts) return;
    const at = accounts.findIndex((a) => a.id === account.id);
    const rest = accounts.filter((a) => a.id !== account.id);
    setAccounts(rest);
    setNotice({
      kind: 'ok',
      text: `Disconnected @${account.username}. Its history, follower trend and picture were deleted.`,
    });
    // The current account moves on the server; read where it went.
    if (account.id === currentId) {
      setCurrentId(null);
      if (caps.current) {
        api<Account>('GET', '/instagram/accounts/current').then(
          (next) => setCurrentId(next.id),
          () => undefined,
        );
      }
    }
    const next = rest[Math.min(at, rest.length - 1)];
    focusSoon(() => (next ? document.getElementById(`account-${next.id}-name`) : heading.current));
  };

  const show = (account: Account) => {
    const at = accounts?.findIndex((a) => a.id === account.id) ?? -1;
    if (at >= visible) setVisible(at + 1);
    requestAnimationFrame(() => {
      const target = document.getElementById(`account-${account.id}-name`);
      target?.scrollIntoView({ block: 'center' });
      target?.focus({ preventScroll: true });
    });
  };

  const needing = (accounts ?? [])
    .map((account) => ({ account, attention: attention(account, now) }))
    .filter((item): item is { account: Account; attention: Attention } => item.attention !== null);

  return (
    <>
      <div class="view-head">
        <h1 ref={heading} tabIndex={-1}>
          Instagram accounts
        </h1>
        <button
          type="button"
          class="primary"
          onClick={() => void connect()}
          aria-disabled={connecting}
        >
          {connecting ? 'Opening Instagram…' : 'Connect an account'}
        </button>
      </div>
      {caps.demo && (
        <p class="demo-note">
          Demo mode: Instagram is emulated on this computer. Choose any demo account on its consent
          page.
        </p>
      )}
      <div role="status" class="slot">
        {notice?.kind === 'ok' && <NoticeBar notice={notice} onDismiss={() => setNotice(null)} />}
      </div>
      <div role="alert" class="slot">
        {notice?.kind === 'error' && (
          <NoticeBar notice={notice} onDismiss={() => setNotice(null)} />
        )}
      </div>

      {accounts === null ? (
        loadError ? (
          <div class="notice error">
            <p>Your accounts could not be loaded: {loadError}</p>
            <button type="button" onClick={() => void load()}>
              Try again
            </button>
          </div>
        ) : (
          <p class="loading" role="status">
            Loading your accounts…
          </p>
        )
      ) : accounts.length === 0 ? (
        <section class="empty" aria-labelledby="empty-title">
          <h2 id="empty-title">No Instagram account connected yet</h2>
          <p>
            Connect a Business or Creator account to see its followers, its health and its history
            here. You can connect as many as you manage.
          </p>
        </section>
      ) : (
        <>
          <section
            class={`summary ${needing.length > 0 ? 'attention' : 'ok'}`}
            aria-labelledby="summary-title"
          >
            <h2 id="summary-title">
              {needing.length > 0
                ? `${plural(needing.length, 'account needs', 'accounts need')} attention`
                : accounts.length === 1
                  ? 'Your account is working'
                  : `All ${accounts.length} accounts are working`}
            </h2>
            {needing.length > 0 && (
              <ul>
                {needing.map(({ account, attention: a }) => (
                  <li key={account.id}>
                    <button type="button" class="link" onClick={() => show(account)}>
                      @{account.username}
                    </button>
                    <span class={`badge ${a.tone}`}>{a.label}</span>
                    <span>{a.why}</span>
                  </li>
                ))}
              </ul>
            )}
          </section>

          {caps.current && accounts.length > 1 && (
            <div class="switcher">
              <label for="current-account">Working in</label>
              <select
                id="current-account"
                value={currentId ?? ''}
                onChange={(event) => {
                  const chosen = accounts.find((a) => a.id === event.currentTarget.value);
                  if (chosen) void makeCurrent(chosen);
                }}
              >
                {currentId === null && <option value="">Choose an account</option>}
                {accounts.map((a) => (
                  <option key={a.id} value={a.id}>
                    @{a.username}
                    {a.status !== 'active' ? ` (${STATUS_WORDS[a.status]})` : ''}
                  </option>
                ))}
              </select>
              <p class="hint">Messages, posts and reports act on this account.</p>
            </div>
          )}

          <ul class="cards" aria-label="Connected accounts">
            {accounts.slice(0, visible).map((account) => (
              <li key={account.id}>
                <AccountCard
                  account={account}
                  now={now}
                  syncing={pending.has(account.id)}
                  isCurrent={caps.current === true && account.id === currentId}
                  canSwitch={caps.current === true}
                  canLink={caps.links === true}
                  onChange={upsert}
                  onRemoved={removed}
                  onMakeCurrent={makeCurrent}
                />
              </li>
            ))}
          </ul>
          {accounts.length > visible && (
            <button
              type="button"
              class="more"
              onClick={() => {
                // Keyboard users land on the first of the new cards, not back at the button.
                const first = accounts[visible];
                setVisible((v) => v + PAGE);
                focusSoon(() => first && document.getElementById(`account-${first.id}-name`));
              }}
            >
              Show {Math.min(PAGE, accounts.length - visible)} more of {accounts.length} accounts
            </button>
          )}
        </>
      )}
    </>
  );
}
