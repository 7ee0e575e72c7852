import type { TargetedEvent } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, ApiError, errorMessage } from './api';
import { formText, localMoment } from './format';
import { focusSoon } from './hooks';
import type { User } from './types';

type Mode = 'login' | 'register';

/** "in 4 minutes (at 2:32 PM)" from a Retry-After in seconds. */
export function waitWords(seconds: number, now = Date.now()): string {
  const minutes = Math.ceil(seconds / 60);
  const span =
    seconds < 60
      ? `${Math.max(1, Math.round(seconds))} seconds`
      : `${minutes} minute${minutes === 1 ? '' : 's'}`;
  return `in ${span} (at ${localMoment(new Date(now + seconds * 1000).toISOString(), now)})`;
}

function authFailure(error: unknown, mode: Mode): string {
  if (error instanceof ApiError) {
    if (error.status === 429) {
      return error.retryAfterSeconds !== undefined
        ? `Too many attempts. Try again ${waitWords(error.retryAfterSeconds)}.`
        : 'Too many attempts. Wait a few minutes, then try again.';
    }
    if (error.status === 401 && mode === 'login')
      return 'That email and password do not match an account.';
  }
  return errorMessage(error);
}

export function AuthView(props: {
  notice: string | undefined;
  focusHeading: boolean;
  onSignedIn: (user: User) => void;
}) {
  const [mode, setMode] = useState<Mode>('login');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const heading = useRef<HTMLHeadingElement>(null);
  const register = mode === 'register';

  useEffect(() => {
    if (props.focusHeading) focusSoon(() => heading.current);
  }, [props.focusHeading]);
  useEffect(() => {
    performance.mark('ssell:first-screen');
  }, []);

  const switchMode = () => {
    // An error about the other form would be wrong here.
    setError(null);
    setMode(register ? 'login' : 'register');
    focusSoon(() => heading.current);
  };

  const submit = async (event: TargetedEvent<HTMLFormElement, SubmitEvent>) => {
    event.preventDefault();
    if (busy) return;
    const form = new FormData(event.currentTarget);
    const password = form.get('password');
    // The password is sent exactly as typed; only the other fields are trimmed.
    const body: Record<string, string> = {
      email: formText(form, 'email'),
      password: typeof password === 'string' ? password : '',
    };
    const name = formText(form, 'name');
    if (register && name) body.name = name;
    setBusy(true);
    setError(null);
    try {
      const { user } = await api<{ user: User }>(
        'POST',
        register ? '/auth/register' : '/auth/login',
        body,
      );
      props.onSignedIn(user);
    } catch (failure) {
      setError(authFailure(failure, mode));
      setBusy(false);
    }
  };

  return (
    <>
      <header class="topbar">
        <span class="brand">ssell</span>
      </header>
      <main class="page auth-page" id="main">
        <section class="auth-card" aria-labelledby="auth-title">
          <h1 id="auth-title" ref={heading} tabIndex={-1}>
            {register ? 'Create your ssell account' : 'Sign in to ssell'}
          </h1>
          <p class="muted">
            Connect your Instagram professional accounts and see at a glance which ones need you.
          </p>
          {props.notice && !error && (
            <p class="notice" role="status">
              {props.notice}
            </p>
          )}
          <form class="stack" onSubmit={(event) => void submit(event)} noValidate={false}>
            <label>
              Email
              <input name="email" type="email" required autoComplete="email" maxLength={254} />
            </label>
            {register && (
              <label>
                <span>
                  Your name <span class="muted">(optional)</span>
                </span>
                <input name="name" type="text" autoComplete="name" maxLength={100} />
              </label>
            )}
            <label>
              Password
              <input
                name="password"
                type="password"
                required
                minLength={register ? 8 : 1}
                maxLength={256}
                autoComplete={register ? 'new-password' : 'current-password'}
                aria-describedby={register ? 'password-hint' : undefined}
              />
            </label>
            {register && (
              <p id="password-hint" class="hint">
                At least 8 characters.
              </p>
            )}
            <div role="alert" class="alert-slot">
              {error && <p class="error">{error}</p>}
            </div>
            <button type="submit" class="primary wide" aria-disabled={busy}>
              {busy
                ? register
                  ? 'Creating your account…'
                  : 'Signing in…'
                : register
                  ? 'Create account'
                  : 'Sign in'}
            </button>
          </form>
          <p class="switch">
            {register ? 'Already have an account?' : 'New to ssell?'}{' '}
            <button type="button" class="link" onClick={switchMode}>
              {register ? 'Sign in instead' : 'Create an account'}
            </button>
          </p>
        </section>
      </main>
    </>
  );
}
