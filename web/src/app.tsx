import { useEffect, useState } from 'preact/hooks';
import { api, handleSessionLost } from './api';
import { AuthView } from './auth-view';
import { Dashboard } from './dashboard';
import { readLanding, type Landing } from './landing';
import type { User } from './types';

type Session =
  | { kind: 'checking' }
  | { kind: 'signed-out'; notice?: string; focus: boolean }
  | { kind: 'signed-in'; user: User; focus: boolean };

export function App() {
  const [session, setSession] = useState<Session>({ kind: 'checking' });
  const [landing, setLanding] = useState<Landing>(readLanding);

  useEffect(() => {
    handleSessionLost(() =>
      setSession({
        kind: 'signed-out',
        notice: 'Your session ended. Sign in again to continue.',
        focus: true,
      }),
    );
    api<{ user: User }>('GET', '/auth/me').then(
      ({ user }) => setSession({ kind: 'signed-in', user, focus: false }),
      () => setSession({ kind: 'signed-out', focus: false }),
    );
    return () => handleSessionLost(undefined);
  }, []);

  if (session.kind === 'checking') {
    return (
      <>
        <header class="topbar">
          <span class="brand">ssell</span>
        </header>
        <main class="page">
          <p class="loading" role="status">
            Checking your session…
          </p>
        </main>
      </>
    );
  }
  if (session.kind === 'signed-out') {
    return (
      <AuthView
        notice={session.notice}
        focusHeading={session.focus}
        onSignedIn={(user) => setSession({ kind: 'signed-in', user, focus: true })}
      />
    );
  }
  return (
    <Dashboard
      user={session.user}
      landing={landing}
      focusHeading={session.focus}
      onLandingShown={() => setLanding({})}
      onSignedOut={() => setSession({ kind: 'signed-out', focus: true })}
    />
  );
}
