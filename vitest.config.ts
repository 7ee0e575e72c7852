import swc from 'unplugin-swc';
import { defineConfig, type Plugin } from 'vitest/config';

// SWC instead of esbuild: Nest's dependency injection needs emitDecoratorMetadata, which esbuild
// does not emit.
export default defineConfig({
  // unplugin-swc is typed against the top-level Vite (8, the page's build tool) while Vitest 3 runs
  // on its own Vite 7; the plugin works with both, only the declared types differ.
  plugins: [swc.vite({ module: { type: 'es6' } }) as unknown as Plugin],
  test: {
    include: ['src/**/*.spec.ts', 'emulator/**/*.spec.ts', 'test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    setupFiles: ['reflect-metadata'],
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    testTimeout: 20_000,
    hookTimeout: 60_000,
    reporters: process.env.CI ? ['default', 'json'] : ['default'],
    outputFile: { json: '.data/test-results.json' },
  },
});
