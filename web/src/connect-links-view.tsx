import type { TargetedEvent } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { NoticeBar, type Notice } from './accounts-view';
import { api, errorMessage } from './api';
import { CopyField } from './copy-field';
import { fullDateTime, relative, formText } from './format';
import { focusSoon, useNow } from './hooks';
import type { ConnectLink } from './types';

/** The service's default for a connect link. */
const DEFAULT_LIFETIME_HOURS = 72;
const LIFETIMES = [
  { hours: 24, words: '1 day' },
  { hours: 72, words: '3 days' },
  { hours: 168, words: '7 days' },
];

function linkState(link: ConnectLink, now: number): { key: string; words: string } {
  if (link.revokedAt) return { key: 'revoked', words: `Revoked ${relative(link.revokedAt, now)}` };
  if (link.usedAt) {
    const by = link.username ? ` by @${link.username}` : '';
    return { key: 'used', words: `Used ${relative(link.usedAt, now)}${by}` };
  }
  if (Date.parse(link.expiresAt) <= now)
    return { key: 'expired', words: `Expired ${relative(link.expiresAt, now)}` };
  return { key: 'open', words: `Not used yet · works until ${fullDateTime(link.expiresAt)}` };
}

export function ConnectLinksView(props: { available: boolean | undefined; focusHeading: boolean }) {
  const now = useNow();
  const heading = useRef<HTMLHeadingElement>(null);
  const [links, setLinks] = useState<ConnectLink[] | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [created, setCreated] = useState<ConnectLink | null>(null);
  const [notice, setNotice] = useState<Notice | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [formError, setFormError] = useState<string | null>(null);

  useEffect(() => {
    if (props.focusHeading) focusSoon(() => heading.current);
  }, [props.focusHeading]);

  const load = useCallback(async () => {
    try {
      const body = await api<
        { links?: ConnectLink[]; connectLinks?: ConnectLink[] } | ConnectLink[]
      >('GET', '/instagram/connect-links');
      setLinks(Array.isArray(body) ? body : (body.links ?? body.connectLinks ?? []));
      setLoadError(null);
    } catch (error) {
      setLoadError(errorMessage(error));
    }
  }, []);

  useEffect(() => {
    if (props.available !== true) return;
    void load();
    // A client may use a link while this page is open elsewhere: refresh on return to the tab.
    const onFocus = () => void load();
    addEventListener('focus', onFocus);
    return () => removeEventListener('focus', onFocus);
  }, [props.available, load]);

  const create = async (event: TargetedEvent<HTMLFormElement, SubmitEvent>) => {
    event.preventDefault();
    if (busy) return;
    const form = event.currentTarget;
    const data = new FormData(form);
    const label = formText(data, 'label');
    setBusy('create');
    setFormError(null);
    try {
      const link = await api<ConnectLink>('POST', '/instagram/connect-links', {
        ...(label ? { label } : {}),
        expiresInHours: Number(data.get('expiresInHours') ?? DEFAULT_LIFETIME_HOURS),
      });
      setCreated(link);
      setLinks((list) => [link, ...(list ?? []).filter((l) => l.id !== link.id)]);
      form.reset();
      focusSoon(() => document.getElementById('link-created'));
    } catch (error) {
      setFormError(`The link could not be created: ${errorMessage(error)}`);
    } finally {
      setBusy(null);
    }
  };

  const revoke = async (link: ConnectLink) => {
    if (busy) return;
    setBusy(link.id);
    setNotice(null);
    try {
      await api('DELETE', `/instagram/connect-links/${link.id}`);
      setLinks((list) => (list ?? []).filter((l) => l.id !== link.id));
      if (created?.id === link.id) setCreated(null);
      setNotice({
        kind: 'ok',
        text: `Revoked ${link.label ? `the link for ${link.label}` : 'the link'}. It no longer works.`,
      });
      focusSoon(() => heading.current);
    } catch (error) {
      setNotice({ kind: 'error', text: `The link could not be revoked: ${errorMessage(error)}` });
    } finally {
      setBusy(null);
    }
  };

  return (
    <>
      <div class="view-head">
        <h1 ref={heading} tabIndex={-1}>
          Client links
        </h1>
        {props.available === true && (
          <button type="button" onClick={() => void load()}>
            Refresh
          </button>
        )}
      </div>
      <p class="lead">
        Managing a client's Instagram without their password? Send them a link: they approve on
        Instagram, and the account joins your workspace. No ssell account needed on their side.
      </p>
      {props.available === undefined && (
        <p class="loading" role="status">
          Loading…
        </p>
      )}
      {props.available === false && (
        <p class="notice">
          This server does not make client links yet. Once it is updated, they are created here.
        </p>
      )}
      {props.available === true && (
        <>
          <div role="status" class="slot">
            {notice?.kind === 'ok' && (
              <NoticeBar notice={notice} onDismiss={() => setNotice(null)} />
            )}
          </div>
          <div role="alert" class="slot">
            {notice?.kind === 'error' && (
              <NoticeBar notice={notice} onDismiss={() => setNotice(null)} />
            )}
          </div>
          {created?.url && (
            <section
              id="link-created"
              class="card reveal"
              tabIndex={-1}
              aria-labelledby="link-created-title"
            >
              <h2 id="link-created-title">Link ready: send it to your client</h2>
              <CopyField
                label={created.label ? `Connect link for ${created.label}` : 'Connect link'}
                value={created.url}
                hint={`Works once, until ${fullDateTime(created.expiresAt)}. Copy it now: it is not shown again.`}
              />
              <button type="button" onClick={() => setCreated(null)}>
                Done
              </button>
            </section>
          )}
          <form
            class="card stack add-form"
            onSubmit={(event) => void create(event)}
            aria-labelledby="new-link-title"
          >
            <h2 id="new-link-title">New link</h2>
            <label>
              <span>
                Who is it for? <span class="muted">(optional)</span>
              </span>
              <input name="label" type="text" maxLength={100} placeholder="Northwind Coffee" />
            </label>
            <label>
              Works for
              <select name="expiresInHours">
                {LIFETIMES.map((l) => (
                  // `selected`, not the select's defaultValue: form.reset() returns to it.
                  <option
                    key={l.hours}
                    value={String(l.hours)}
                    selected={l.hours === DEFAULT_LIFETIME_HOURS}
                  >
                    {l.words}
                  </option>
                ))}
              </select>
            </label>
            <div role="alert" class="slot">
              {formError && <p class="error">{formError}</p>}
            </div>
            <button type="submit" class="primary" aria-disabled={busy === 'create'}>
              {busy === 'create' ? 'Creating…' : 'Create link'}
            </button>
          </form>

          <h2 class="list-title">Links</h2>
          {loadError && <p class="notice error">The links could not be loaded: {loadError}</p>}
          {links === null && !loadError && <p class="muted">Loading links…</p>}
          {links && links.length === 0 && <p class="muted">No open link.</p>}
          {links && links.length > 0 && (
            <ul class="cards">
              {links.map((link) => {
                const state = linkState(link, now);
                const name = link.label ?? 'Untitled link';
                return (
                  <li key={link.id} class={`card link-item ${state.key}`}>
                    <div>
                      <h3>{name}</h3>
                      <p class={`link-state ${state.key}`}>{state.words}</p>
                    </div>
                    {state.key === 'open' && (
                      <button
                        type="button"
                        class="danger"
                        onClick={() => void revoke(link)}
                        aria-disabled={busy === link.id}
                      >
                        {busy === link.id ? 'Revoking…' : 'Revoke'}
                        <span class="sr-only"> link for {name}</span>
                      </button>
                    )}
                  </li>
                );
              })}
            </ul>
          )}
        </>
      )}
    </>
  );
}
