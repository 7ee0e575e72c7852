import { render } from 'preact';
import { App } from './app';
import './styles.css';

const root = document.getElementById('app');
if (root) {
  // The static "Loading…" shell in index.html gives way to the app.
  root.replaceChildren();
  render(<App />, root);
}
