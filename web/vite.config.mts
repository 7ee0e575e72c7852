import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import { compression } from 'vite-plugin-compression2';

/** Where `npm run dev:web` sends API calls: the service started with `npm start`. */
const apiTarget = process.env.SSELL_API_URL ?? 'http://localhost:4000';
/** Everything that is not the page itself belongs to the service. */
const apiPaths = ['/auth', '/instagram', '/webhooks', '/connect', '/health', '/docs'];

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  // Preact's automatic JSX runtime, through Vite's own transform: no Babel, no extra plugin.
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: '../dist/web',
    emptyOutDir: true,
    target: 'es2022',
    // Hashed file names under assets/: the service caches them for a year (app.factory.ts).
    assetsDir: 'assets',
  },
  plugins: [
    // .gz and .br beside each asset; the service sends them to browsers that accept them.
    compression({ algorithms: ['gzip', 'brotliCompress'], threshold: 512 }),
  ],
  server: {
    port: 5173,
    proxy: Object.fromEntries(apiPaths.map((path) => [path, { target: apiTarget }])),
  },
  preview: { port: 4173 },
});
