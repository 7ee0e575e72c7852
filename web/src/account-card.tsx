import type { TargetedEvent } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { api, ApiError, errorMessage } from './api';
import { ConfirmDialog } from './confirm-dialog';
import { goToInstagram } from './connect';
import { CopyField } from './copy-field';
import { EXPIRY_WARNING_DAYS, needsReconnect, STATUS_WORDS, statusSentence } from './describe';
import {
  ACCOUNT_TYPE_WORDS,
  count,
  daysUntil,
  fullDate,
  fullDateTime,
  initials,
  localMoment,
  plural,
  relative,
  formText,
} from './format';
import { focusSoon, keepFocusIn } from './hooks';
import { FollowerTrend } from './sparkline';
import { Timeline } from './timeline';
import type { Account, ConnectLink, Metrics } from './types';

type Busy = 'sync' | 'status' | 'rename' | 'reconnect' | 'current' | 'link';

interface Message {
  kind: 'ok' | 'error';
  text: string;
}

/** The last 30 days of counts; null when the server has none (or no metrics route yet). */
function useMetrics(accountId: string, lastSyncAt: string | null): Metrics | null {
  const [metrics, setMetrics] = useState<Metrics | null>(null);
  useEffect(() => {
    let live = true;
    api<Metrics>('GET', `/instagram/accounts/${accountId}/metrics`).then(
      (m) => live && setMetrics(m),
      // No sparkline is the whole fallback: the counts are on the card anyway.
      () => live && setMetrics(null),
    );
    return () => {
      live = false;
    };
  }, [accountId, lastSyncAt]);
  return metrics;
}

function Avatar(props: { account: Account }) {
  const { account } = props;
  const sources = [account.avatarUrl, account.profilePictureUrl].filter((s): s is string =>
    Boolean(s),
  );
  const [failed, setFailed] = useState(0);
  const src = sources[failed];
  return (
    <div class="avatar" aria-hidden="true">
      {src ? (
        // Instagram's picture links expire; the next source, then the initials, stand in.
        <img
          src={src}
          alt=""
          referrerPolicy="no-referrer"
          onError={() => setFailed((n) => n + 1)}
        />
      ) : (
        <span>{initials(account.displayName ?? account.username)}</span>
      )}
    </div>
  );
}

function syncFailure(error: unknown, now: number): string {
  if (error instanceof ApiError) {
    if (error.status === 429) {
      const until =
        error.retryAfterSeconds !== undefined
          ? ` until ${localMoment(new Date(now + error.retryAfterSeconds * 1000).toISOString(), now)}`
          : '';
      return `Instagram is limiting requests for this account${until}. Sync is paused until then.`;
    }
    if (error.status === 409)
      return "Instagram refused this account's access. Reconnect it to continue.";
    if (error.status === 502 || error.status === 503 || error.status === 0) {
      return 'Instagram did not answer properly. Nothing was lost; try again in a moment.';
    }
  }
  return errorMessage(error);
}

function syncSummary(before: Account, after: Account): string {
  const changes: string[] = [];
  const compare = (name: string, from: number | null, to: number | null) => {
    if (from !== to) changes.push(`${name} ${count(from)} → ${count(to)}`);
  };
  compare('followers', before.followerCount, after.followerCount);
  compare('following', before.followingCount, after.followingCount);
  compare('posts', before.mediaCount, after.mediaCount);
  return changes.length > 0
    ? `Synced: ${changes.join(', ')}.`
    : 'Synced: nothing changed on Instagram.';
}

export function AccountCard(props: {
  account: Account;
  now: number;
  /** A queued sync (after connecting) has not run yet. */
  syncing: boolean;
  isCurrent: boolean;
  canSwitch: boolean;
  canLink: boolean;
  onChange: (account: Account) => void;
  onRemoved: (account: Account) => void;
  onMakeCurrent: (account: Account) => Promise<void>;
}) {
  const { account: a, now, onChange } = props;
  const [busy, setBusy] = useState<Busy | null>(null);
  const [message, setMessage] = useState<Message | null>(null);
  const [renaming, setRenaming] = useState(false);
  const [historyOpen, setHistoryOpen] = useState(false);
  const [version, setVersion] = useState(0);
  const [confirming, setConfirming] = useState(false);
  const [link, setLink] = useState<ConnectLink | null>(null);
  const metrics = useMetrics(a.id, a.lastSyncAt);
  const heading = useRef<HTMLHeadingElement>(null);
  const renameButton = useRef<HTMLButtonElement>(null);
  const renameInput = useRef<HTMLInputElement>(null);
  const nameId = `account-${a.id}-name`;
  const historyId = `account-${a.id}-history`;
  const who = ` @${a.username}`;

  const refetch = useCallback(async () => {
    try {
      onChange(await api<Account>('GET', `/instagram/accounts/${a.id}`));
    } catch {
      /* the card keeps what it had; the action's own message says what failed */
    }
  }, [a.id, onChange]);

  /** One action at a time per card; focus stays on the card whatever the action did to it. */
  const run = async (
    kind: Busy,
    action: () => Promise<string | null>,
    describe: (e: unknown) => string,
  ) => {
    if (busy) return;
    setBusy(kind);
    setMessage(null);
    try {
      const text = await action();
      if (text) setMessage({ kind: 'ok', text });
    } catch (error) {
      setMessage({ kind: 'error', text: describe(error) });
      // A failed sync or check usually changed the status: show the new one.
      await refetch();
    } finally {
      setBusy(null);
      setVersion((v) => v + 1);
      keepFocusIn(() => heading.current);
    }
  };

  const sync = () =>
    run(
      'sync',
      async () => {
        const updated = await api<Account>('POST', `/instagram/accounts/${a.id}/sync`);
        onChange(updated);
        return syncSummary(a, updated);
      },
      (e) => syncFailure(e, Date.now()),
    );

  const checkStatus = () =>
    run(
      'status',
      async () => {
        const { status } = await api<{ status: Account['status'] }>(
          'POST',
          `/instagram/accounts/${a.id}/refresh-status`,
        );
        await refetch();
        return `Status checked: ${STATUS_WORDS[status]}.`;
      },
      (e) => `The status could not be checked: ${errorMessage(e)}`,
    );

  const reconnect = () =>
    run(
      'reconnect',
      async () => {
        await goToInstagram(a);
        return null;
      },
      (e) => `Could not start reconnecting: ${errorMessage(e)}`,
    );

  const makeLink = () =>
    run(
      'link',
      async () => {
        setLink(await api<ConnectLink>('POST', `/instagram/accounts/${a.id}/reconnect-link`));
        return null;
      },
      (e) => `The link could not be created: ${errorMessage(e)}`,
    );

  const makeCurrent = () =>
    run(
      'current',
      async () => {
        await props.onMakeCurrent(a);
        return null;
      },
      errorMessage,
    );

  useEffect(() => {
    if (!renaming) return;
    renameInput.current?.focus();
    renameInput.current?.select();
  }, [renaming]);

  const closeRename = (focus: boolean) => {
    setRenaming(false);
    if (focus) focusSoon(() => renameButton.current);
  };

  const saveName = async (event: TargetedEvent<HTMLFormElement, SubmitEvent>) => {
    event.preventDefault();
    const value = formText(new FormData(event.currentTarget), 'displayName');
    if (value === (a.displayName ?? '')) {
      closeRename(true);
      return;
    }
    if (busy) return;
    setBusy('rename');
    setMessage(null);
    try {
      onChange(
        await api<Account>('PATCH', `/instagram/accounts/${a.id}`, {
          displayName: value === '' ? null : value,
        }),
      );
      setMessage({ kind: 'ok', text: value ? `Renamed to “${value}”.` : 'Name cleared.' });
      setVersion((v) => v + 1);
      closeRename(true);
    } catch (error) {
      setMessage({ kind: 'error', text: `The name could not be saved: ${errorMessage(error)}` });
    } finally {
      setBusy(null);
    }
  };

  const disconnect = async () => {
    await api('DELETE', `/instagram/accounts/${a.id}`);
    props.onRemoved(a);
  };
  const closeConfirm = useCallback(() => setConfirming(false), []);

  const reconnectFirst = needsReconnect(a);
  const limitedUntil =
    a.status === 'rate_limited' && a.rateLimitedUntil && Date.parse(a.rateLimitedUntil) > now
      ? a.rateLimitedUntil
      : null;
  const syncBlocked = a.status === 'rate_limited' && (limitedUntil !== null || !a.rateLimitedUntil);
  const showSyncing = props.syncing || busy === 'sync';
  const daysLeft = a.tokenExpiresAt ? daysUntil(a.tokenExpiresAt, now) : null;
  const expiring = a.status === 'active' && daysLeft !== null && daysLeft < EXPIRY_WARNING_DAYS;
  // aria-disabled, not disabled: a disabled button drops keyboard focus to the page's body.
  const aria = () => ({ 'aria-disabled': busy !== null });

  let statusText: string | null = null;
  if (a.status === 'rate_limited') {
    statusText = limitedUntil
      ? `Instagram is limiting requests for this account. Sync is available again at ${localMoment(limitedUntil, now)} (${relative(limitedUntil, now)}).`
      : 'Instagram is limiting requests for this account. Syncing resumes by itself when the limit lifts.';
  } else if (a.status !== 'active') {
    statusText = statusSentence(a);
  }

  return (
    <article
      class={`card status-${a.status}`}
      id={`account-${a.id}`}
      aria-labelledby={nameId}
      aria-busy={showSyncing}
    >
      <div class="card-head">
        <Avatar account={a} />
        <div class="who">
          {renaming ? (
            <form class="rename" onSubmit={(event) => void saveName(event)}>
              <label for={`${nameId}-input`}>Display name for @{a.username}</label>
              <div class="rename-row">
                <input
                  id={`${nameId}-input`}
                  name="displayName"
                  defaultValue={a.displayName ?? ''}
                  maxLength={255}
                  autoComplete="off"
                  ref={renameInput}
                  onKeyDown={(e) => {
                    if (e.key === 'Escape') {
                      e.preventDefault();
                      closeRename(true);
                    }
                  }}
                />
                <button type="submit" class="primary" aria-disabled={busy === 'rename'}>
                  {busy === 'rename' ? 'Saving…' : 'Save'}
                  <span class="sr-only"> name of{who}</span>
                </button>
                <button type="button" onClick={() => closeRename(true)}>
                  Cancel<span class="sr-only"> renaming{who}</span>
                </button>
              </div>
              <p class="hint">Shown in ssell. A sync brings back the name set on Instagram.</p>
            </form>
          ) : (
            <h2 id={nameId} ref={heading} tabIndex={-1} class="name">
              {a.displayName || `@${a.username}`}
            </h2>
          )}
          <p class="handle">
            <span>@{a.username}</span>
            <span aria-hidden="true"> · </span>
            <span>{ACCOUNT_TYPE_WORDS[a.accountType]}</span>
            {props.isCurrent && <span class="pill current">Current account</span>}
          </p>
        </div>
        <span class={`badge ${showSyncing ? 'syncing' : a.status}`}>
          {showSyncing ? 'Syncing…' : STATUS_WORDS[a.status]}
        </span>
      </div>

      {statusText && <p class={`status-line ${a.status}`}>{statusText}</p>}
      {reconnectFirst && props.canLink && (
        <p class="status-line-extra">
          Not your login?{' '}
          <button type="button" class="link" onClick={() => void makeLink()} {...aria()}>
            Create a reconnect link<span class="sr-only"> for{who}</span>
          </button>{' '}
          for its owner.
        </p>
      )}
      {link?.url && (
        <CopyField
          label={`Reconnect link for @${a.username}`}
          value={link.url}
          hint={`Works once, until ${fullDateTime(link.expiresAt)}. Only this Instagram account can use it.`}
        />
      )}

      <div class="stats">
        <dl class="counts">
          <div>
            <dt>Followers</dt>
            <dd>{count(a.followerCount)}</dd>
          </div>
          <div>
            <dt>Following</dt>
            <dd>{count(a.followingCount)}</dd>
          </div>
          <div>
            <dt>Posts</dt>
            <dd>{count(a.mediaCount)}</dd>
          </div>
        </dl>
        <FollowerTrend metrics={metrics} />
      </div>

      <p class="meta">
        {a.lastSyncAt ? (
          <>
            Synced{' '}
            <time dateTime={a.lastSyncAt} title={fullDateTime(a.lastSyncAt)}>
              {relative(a.lastSyncAt, now)}
            </time>
          </>
        ) : (
          'Not synced yet'
        )}
        {a.tokenExpiresAt && daysLeft !== null && a.status !== 'token_expired' && (
          <>
            <span aria-hidden="true"> · </span>
            {expiring ? (
              <>
                <strong class="warn">
                  Access to Instagram ends{' '}
                  {daysLeft === 0 ? 'today' : `in ${plural(daysLeft, 'day', 'days')}`} (
                  {fullDate(a.tokenExpiresAt)})
                </strong>{' '}
                <button type="button" class="link" onClick={() => void reconnect()} {...aria()}>
                  {busy === 'reconnect' ? 'Opening Instagram…' : 'Reconnect to renew it'}
                  <span class="sr-only">:{who}</span>
                </button>
              </>
            ) : (
              <span>Access valid until {fullDate(a.tokenExpiresAt)}</span>
            )}
          </>
        )}
      </p>

      <div class="actions">
        {reconnectFirst ? (
          <button type="button" class="primary" onClick={() => void reconnect()} {...aria()}>
            {busy === 'reconnect' ? 'Opening Instagram…' : 'Reconnect'}
            <span class="sr-only">{who}</span>
          </button>
        ) : null}
        {!reconnectFirst && (
          <button
            type="button"
            class="primary"
            onClick={() => void sync()}
            disabled={syncBlocked}
            {...(syncBlocked ? {} : aria())}
            aria-describedby={syncBlocked ? `${nameId}-limit` : undefined}
          >
            {showSyncing ? 'Syncing…' : 'Sync now'}
            <span class="sr-only">{who}</span>
          </button>
        )}
        <button type="button" onClick={() => void checkStatus()} {...aria()}>
          {busy === 'status' ? 'Checking…' : 'Check status'}
          <span class="sr-only">{who}</span>
        </button>
        <button
          type="button"
          aria-expanded={historyOpen}
          aria-controls={historyId}
          onClick={() => setHistoryOpen((open) => !open)}
        >
          {historyOpen ? 'Hide history' : 'History'}
          <span class="sr-only">{who}</span>
        </button>
        {!renaming && (
          <button
            type="button"
            ref={renameButton}
            onClick={() => busy || setRenaming(true)}
            {...aria()}
          >
            Rename<span class="sr-only">{who}</span>
          </button>
        )}
        {props.canSwitch && !props.isCurrent && (
          <button type="button" onClick={() => void makeCurrent()} {...aria()}>
            Make current<span class="sr-only">:{who}</span>
          </button>
        )}
        <button
          type="button"
          class="danger"
          onClick={() => busy || setConfirming(true)}
          {...aria()}
        >
          Disconnect<span class="sr-only">{who}</span>
        </button>
      </div>
      {syncBlocked && (
        <p id={`${nameId}-limit`} class="sr-only">
          Sync is unavailable while Instagram limits this account.
        </p>
      )}

      <div role="status" class="slot">
        {message?.kind === 'ok' && <p class="card-message ok">{message.text}</p>}
      </div>
      <div role="alert" class="slot">
        {message?.kind === 'error' && <p class="card-message error">{message.text}</p>}
      </div>

      {historyOpen && (
        <Timeline
          id={historyId}
          accountId={a.id}
          username={a.username}
          now={now}
          version={version}
        />
      )}

      {confirming && (
        <ConfirmDialog
          title={`Disconnect @${a.username}?`}
          confirmLabel={`Disconnect @${a.username}`}
          busyLabel="Disconnecting…"
          onConfirm={disconnect}
          onClose={closeConfirm}
        >
          <p>ssell stops syncing this account and deletes:</p>
          <ul>
            <li>the account and its name in ssell</li>
            <li>its history and follower trend</li>
            <li>its kept profile picture</li>
            <li>the stored access to Instagram</li>
          </ul>
          <p>Nothing changes on Instagram itself. You can connect the account again later.</p>
        </ConfirmDialog>
      )}
    </article>
  );
}
