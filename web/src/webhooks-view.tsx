import type { TargetedEvent } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { NoticeBar, type Notice } from './accounts-view';
import { api, errorMessage } from './api';
import { ConfirmDialog } from './confirm-dialog';
import { CopyField } from './copy-field';
import { WEBHOOK_EVENTS, webhookEventWords } from './describe';
import { fullDateTime, plural, relative, formText } from './format';
import { focusSoon, useNow } from './hooks';
import type { WebhookDelivery, WebhookEndpoint } from './types';

/** How long the page keeps watching a delivery that has not been answered yet. */
const DELIVERY_WATCH_MS = 30_000;

function deliveryWords(d: WebhookDelivery): string {
  const status =
    d.status === 'delivered'
      ? 'Delivered'
      : d.status === 'failed'
        ? 'Failed'
        : d.attempts > 0
          ? 'Retrying'
          : 'Waiting to be sent';
  const attempts = d.attempts > 0 ? `, ${plural(d.attempts, 'attempt', 'attempts')}` : '';
  const answer =
    d.lastStatusCode !== null
      ? `, your endpoint answered ${d.lastStatusCode}`
      : d.attempts > 0
        ? ', no answer'
        : '';
  return `${status}${attempts}${answer}`;
}

function eventsWords(events: string[]): string {
  return events.includes('*') ? 'All events' : events.map(webhookEventWords).join(', ');
}

function Deliveries(props: {
  endpoint: WebhookEndpoint;
  id: string;
  version: number;
  now: number;
}) {
  const [deliveries, setDeliveries] = useState<WebhookDelivery[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const { endpoint, version } = props;

  useEffect(() => {
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const until = Date.now() + DELIVERY_WATCH_MS;
    const load = async () => {
      try {
        const body = await api<{ deliveries: WebhookDelivery[] } | WebhookDelivery[]>(
          'GET',
          `/webhooks/${endpoint.id}/deliveries`,
        );
        if (!live) return;
        const list = Array.isArray(body) ? body : body.deliveries;
        setDeliveries(list);
        setError(null);
        // A test just sent (version > 0) resolves on screen without a reload, even if its
        // delivery is not listed yet.
        const waiting =
          list.some((d) => d.status === 'pending') || (version > 0 && list.length === 0);
        if (waiting && Date.now() < until) timer = setTimeout(() => void load(), 1500);
      } catch (failure) {
        if (live) setError(errorMessage(failure));
      }
    };
    void load();
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [endpoint.id, version]);

  return (
    <section id={props.id} class="deliveries" aria-label={`Deliveries to ${endpoint.url}`}>
      {error && <p class="error">The deliveries could not be loaded: {error}</p>}
      {deliveries === null && !error && <p class="muted">Loading deliveries…</p>}
      {deliveries && deliveries.length === 0 && (
        <p class="muted">Nothing sent yet. Send a test to try the endpoint.</p>
      )}
      {deliveries && deliveries.length > 0 && (
        <ol>
          {deliveries.map((d) => (
            <li key={d.id} class={`delivery ${d.status}`}>
              <time dateTime={d.createdAt} title={fullDateTime(d.createdAt)}>
                {relative(d.createdAt, props.now)}
              </time>
              <span>
                <strong>{webhookEventWords(d.event)}</strong>: {deliveryWords(d)}
              </span>
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}

function EndpointItem(props: {
  endpoint: WebhookEndpoint;
  now: number;
  onDeleted: (endpoint: WebhookEndpoint) => void;
}) {
  const { endpoint } = props;
  const [open, setOpen] = useState(false);
  const [version, setVersion] = useState(0);
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState<Notice | null>(null);
  const [dialog, setDialog] = useState<'rotate' | 'delete' | null>(null);
  const [secret, setSecret] = useState<string | null>(null);
  const to = ` to ${endpoint.url}`;
  const deliveriesId = `webhook-${endpoint.id}-deliveries`;
  const closeDialog = useCallback(() => setDialog(null), []);

  const sendTest = async () => {
    if (busy) return;
    setBusy(true);
    setMessage(null);
    try {
      await api('POST', `/webhooks/${endpoint.id}/test`);
      setMessage({ kind: 'ok', text: 'Test event sent. Its delivery shows below.' });
      setOpen(true);
      setVersion((v) => v + 1);
    } catch (error) {
      setMessage({ kind: 'error', text: `The test could not be sent: ${errorMessage(error)}` });
    } finally {
      setBusy(false);
    }
  };

  const rotate = async () => {
    const { secret: next } = await api<{ secret: string }>(
      'POST',
      `/webhooks/${endpoint.id}/rotate-secret`,
    );
    setSecret(next);
    setDialog(null);
    setMessage({
      kind: 'ok',
      text: 'New signing secret made. The old one no longer signs deliveries.',
    });
  };

  const remove = async () => {
    await api('DELETE', `/webhooks/${endpoint.id}`);
    props.onDeleted(endpoint);
  };

  return (
    <li class="card endpoint">
      <h3 class="endpoint-url">{endpoint.url}</h3>
      {endpoint.description && <p>{endpoint.description}</p>}
      <p class="meta">
        {eventsWords(endpoint.events)} <span aria-hidden="true">·</span> added{' '}
        {relative(endpoint.createdAt, props.now)}
      </p>
      {secret && (
        <CopyField
          label={`New signing secret for ${endpoint.url}`}
          value={secret}
          hint="Shown only now. Put it in your receiver to check the X-Ssell-Signature header."
        />
      )}
      <div class="actions">
        <button type="button" class="primary" onClick={() => void sendTest()} aria-disabled={busy}>
          {busy ? 'Sending…' : 'Send test'}
          <span class="sr-only">{to}</span>
        </button>
        <button
          type="button"
          aria-expanded={open}
          aria-controls={deliveriesId}
          onClick={() => setOpen((o) => !o)}
        >
          {open ? 'Hide deliveries' : 'Deliveries'}
          <span class="sr-only">{to}</span>
        </button>
        <button type="button" onClick={() => setDialog('rotate')}>
          New secret<span class="sr-only"> for {endpoint.url}</span>
        </button>
        <button type="button" class="danger" onClick={() => setDialog('delete')}>
          Delete<span class="sr-only"> endpoint {endpoint.url}</span>
        </button>
      </div>
      <div role="status" class="slot">
        {message?.kind === 'ok' && <p class="card-message ok">{message.text}</p>}
      </div>
      <div role="alert" class="slot">
        {message?.kind === 'error' && <p class="card-message error">{message.text}</p>}
      </div>
      {open && (
        <Deliveries endpoint={endpoint} id={deliveriesId} version={version} now={props.now} />
      )}
      {dialog === 'rotate' && (
        <ConfirmDialog
          title="Make a new signing secret?"
          confirmLabel="Make a new secret"
          busyLabel="Making…"
          onConfirm={rotate}
          onClose={closeDialog}
        >
          <p>
            Deliveries to <strong>{endpoint.url}</strong> are signed with the new secret from now
            on. Update your receiver, or it will reject them.
          </p>
        </ConfirmDialog>
      )}
      {dialog === 'delete' && (
        <ConfirmDialog
          title="Delete this endpoint?"
          confirmLabel="Delete endpoint"
          busyLabel="Deleting…"
          onConfirm={remove}
          onClose={closeDialog}
        >
          <p>
            ssell stops sending events to <strong>{endpoint.url}</strong> and deletes its delivery
            history.
          </p>
        </ConfirmDialog>
      )}
    </li>
  );
}

export function WebhooksView(props: { available: boolean | undefined; focusHeading: boolean }) {
  const now = useNow();
  const heading = useRef<HTMLHeadingElement>(null);
  const [endpoints, setEndpoints] = useState<WebhookEndpoint[] | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [notice, setNotice] = useState<Notice | null>(null);
  const [created, setCreated] = useState<WebhookEndpoint | null>(null);
  const [allEvents, setAllEvents] = useState(true);
  const [busy, setBusy] = useState(false);
  const [formError, setFormError] = useState<string | null>(null);

  useEffect(() => {
    if (props.focusHeading) focusSoon(() => heading.current);
  }, [props.focusHeading]);

  useEffect(() => {
    if (props.available !== true) return;
    api<{ webhooks?: WebhookEndpoint[]; endpoints?: WebhookEndpoint[] } | WebhookEndpoint[]>(
      'GET',
      '/webhooks',
    ).then(
      (body) => setEndpoints(Array.isArray(body) ? body : (body.webhooks ?? body.endpoints ?? [])),
      (error: unknown) => setLoadError(errorMessage(error)),
    );
  }, [props.available]);

  const add = async (event: TargetedEvent<HTMLFormElement, SubmitEvent>) => {
    event.preventDefault();
    if (busy) return;
    const form = event.currentTarget;
    const data = new FormData(form);
    const events = allEvents ? ['*'] : data.getAll('events').map(String);
    if (events.length === 0) {
      setFormError('Choose at least one event, or all events.');
      return;
    }
    const description = formText(data, 'description');
    setBusy(true);
    setFormError(null);
    try {
      const endpoint = await api<WebhookEndpoint>('POST', '/webhooks', {
        url: formText(data, 'url'),
        events,
        ...(description ? { description } : {}),
      });
      setCreated(endpoint);
      setEndpoints((list) => [endpoint, ...(list ?? [])]);
      form.reset();
      setAllEvents(true);
      focusSoon(() => document.getElementById('webhook-created'));
    } catch (error) {
      setFormError(`The endpoint could not be added: ${errorMessage(error)}`);
    } finally {
      setBusy(false);
    }
  };

  const deleted = (endpoint: WebhookEndpoint) => {
    setEndpoints((list) => (list ?? []).filter((e) => e.id !== endpoint.id));
    if (created?.id === endpoint.id) setCreated(null);
    setNotice({ kind: 'ok', text: `Deleted the endpoint ${endpoint.url}.` });
    focusSoon(() => heading.current);
  };

  return (
    <>
      <div class="view-head">
        <h1 ref={heading} tabIndex={-1}>
          Webhooks
        </h1>
      </div>
      <p class="lead">
        ssell tells your systems the moment an account breaks, recovers or changes: it posts a
        signed JSON event to each endpoint you add here.
      </p>
      {props.available === undefined && (
        <p class="loading" role="status">
          Loading…
        </p>
      )}
      {props.available === false && (
        <p class="notice">
          This server does not send webhooks yet. Once it is updated, they are set up here.
        </p>
      )}
      {props.available === true && (
        <>
          <div role="status" class="slot">
            {notice && <NoticeBar notice={notice} onDismiss={() => setNotice(null)} />}
          </div>
          {created?.secret && (
            <section
              id="webhook-created"
              class="card reveal"
              tabIndex={-1}
              aria-labelledby="webhook-created-title"
            >
              <h2 id="webhook-created-title">Endpoint added: copy its signing secret now</h2>
              <CopyField
                label={`Signing secret for ${created.url}`}
                value={created.secret}
                hint="Shown only now. Your receiver checks each delivery's X-Ssell-Signature header with it."
              />
              <button type="button" onClick={() => setCreated(null)}>
                I have stored the secret
              </button>
            </section>
          )}
          <form
            class="card stack add-form"
            onSubmit={(event) => void add(event)}
            aria-labelledby="add-webhook-title"
          >
            <h2 id="add-webhook-title">Add an endpoint</h2>
            <label>
              Endpoint URL
              <input
                name="url"
                type="url"
                required
                placeholder="https://example.com/ssell-events"
                maxLength={2048}
              />
            </label>
            <label>
              <span>
                Description <span class="muted">(optional)</span>
              </span>
              <input
                name="description"
                type="text"
                maxLength={200}
                placeholder="Alerts for the support team"
              />
            </label>
            <fieldset>
              <legend>Send</legend>
              <label class="choice">
                <input
                  type="radio"
                  name="scope"
                  checked={allEvents}
                  onChange={() => setAllEvents(true)}
                />{' '}
                All events
              </label>
              <label class="choice">
                <input
                  type="radio"
                  name="scope"
                  checked={!allEvents}
                  onChange={() => setAllEvents(false)}
                />{' '}
                Only these events
              </label>
              {!allEvents && (
                <div class="event-choices">
                  {WEBHOOK_EVENTS.map((e) => (
                    <label class="choice" key={e.name}>
                      <input type="checkbox" name="events" value={e.name} /> {e.words}
                    </label>
                  ))}
                </div>
              )}
            </fieldset>
            <div role="alert" class="slot">
              {formError && <p class="error">{formError}</p>}
            </div>
            <button type="submit" class="primary" aria-disabled={busy}>
              {busy ? 'Adding…' : 'Add endpoint'}
            </button>
          </form>

          <h2 class="list-title">Endpoints</h2>
          {loadError && <p class="notice error">The endpoints could not be loaded: {loadError}</p>}
          {endpoints === null && !loadError && <p class="muted">Loading endpoints…</p>}
          {endpoints && endpoints.length === 0 && <p class="muted">No endpoint yet.</p>}
          {endpoints && endpoints.length > 0 && (
            <ul class="cards">
              {endpoints.map((endpoint) => (
                <EndpointItem key={endpoint.id} endpoint={endpoint} now={now} onDeleted={deleted} />
              ))}
            </ul>
          )}
        </>
      )}
    </>
  );
}
