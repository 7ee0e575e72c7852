// @ts-check
/**
 * The direction of dependencies, checked by `npm run lint` (architecture.md "Layout"):
 * domain ← infrastructure ← modules ← app (main.ts, app.module.ts, app.factory.ts, bootstrap.ts),
 * with common/ and config/ as low layers below infrastructure and modules. Type-only imports count:
 * a port that names an infrastructure type couples the layers as much as a value import does.
 */
const APP = '^src/(main|app\\.module|app\\.factory|bootstrap)\\.ts$';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-cycle',
      severity: 'error',
      comment: 'An import cycle: split out what both sides need, or move it down a layer.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'domain-imports-nothing',
      severity: 'error',
      comment: 'domain/ holds entities and ports; it imports nothing else from the project.',
      from: { path: '^src/domain/' },
      to: { path: '^(src|emulator|scripts|bench|test)/', pathNot: '^src/domain/' },
    },
    {
      name: 'low-layers-stay-low',
      severity: 'error',
      comment:
        'common/ and config/ sit below infrastructure/ and modules/: move what they share down here.',
      from: { path: '^src/(common|config)/' },
      to: { path: ['^src/(modules|infrastructure)/', APP, '^emulator/'] },
    },
    {
      name: 'infrastructure-below-modules',
      severity: 'error',
      comment: 'infrastructure/ serves modules/; it never reaches up into them or into the app.',
      from: { path: '^src/infrastructure/' },
      to: { path: ['^src/modules/', APP] },
    },
    {
      name: 'modules-below-app',
      severity: 'error',
      comment: 'modules/ are wired by the app files; they never import them.',
      from: { path: '^src/modules/' },
      to: { path: APP },
    },
    {
      name: 'emulator-only-in-demo-mode',
      severity: 'error',
      comment:
        'src/ loads the emulator only through a dynamic import() in demo mode, so production never loads it.',
      from: { path: '^src/' },
      // Type-only imports are erased from the build, so they load nothing.
      to: { path: '^emulator/', dependencyTypesNot: ['dynamic-import', 'type-only'] },
    },
    {
      name: 'src-is-not-a-tool',
      severity: 'error',
      comment: 'The application never imports the tests, the scripts or the benchmarks.',
      // Unit specs beside the code are tests: they may share the fakes in test/fakes/.
      from: { path: '^(src|emulator)/', pathNot: '\\.spec\\.ts$' },
      to: { path: '^(test|scripts|bench)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|dist|web|coverage)/' },
    // Type-only imports are dependencies too (see the top of this file).
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.js', '.mjs', '.cjs', '.json'],
    },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
