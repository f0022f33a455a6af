/**
 * Mamori's layering, checked on every `npm test` (scripts/lint-deps.mjs) and by `npm run lint:deps`.
 * DESIGN.md §4: app/ wires everything; core/ imports nothing above store/; a measure reaches data
 * and the world only through what the broker grants it (src/core/capabilities.ts), so its folder
 * imports no network module, no other measure, not the API, the CLI or the composition root, and
 * not the code that opens the stores. Type-only imports count as dependencies too (a cycle through
 * types is still a tangle), except where a rule says otherwise.
 */

/**
 * Modules that open sockets or start servers. dns-packet is not listed: it is a codec (bytes to
 * objects) with no socket of its own; whatever sends or receives DNS is one of these.
 */
const NETWORK = ['dgram', 'net', 'tls', 'http', 'https', 'http2', 'dns', 'child_process', 'cluster', 'worker_threads'].map(
  (m) => `(node:)?${m}`,
);
const NETWORK_PACKAGES = ['undici', 'fastify', '@fastify/[^/]+', 'nodemailer', 'ws', 'axios', 'node-fetch', 'got'];

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'Modules import each other in a circle: one of them belongs lower, or the shared part in a module of its own.',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'core-above-store',
      severity: 'error',
      comment: 'src/core imports nothing above src/store (DESIGN.md §4): the composition root (src/app) wires the rest together.',
      from: { path: '^src/core/' },
      to: { path: '^src/', pathNot: '^src/(core|store)/' },
    },
    {
      name: 'app-is-the-top',
      severity: 'error',
      comment: 'Only the CLI (and tests, benchmarks, scripts) import the composition root; the API sees the instance by its type only.',
      from: { path: '^src/', pathNot: '^src/(app|cli)/' },
      to: { path: '^src/app/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'below-app-not-to-app',
      severity: 'error',
      comment:
        'Nothing below the API (core, store, ingest, dns, notify, subscriber, share, measures, policy, ' +
        'simulate) names src/app, not even a type.',
      from: { path: '^src/', pathNot: '^src/(app|cli|api)/' },
      to: { path: '^src/app/' },
    },
    {
      name: 'measure-no-network',
      severity: 'error',
      comment:
        "A measure opens no socket and starts no server: listeners and senders are the core's, granted by the broker (DESIGN.md §4).",
      from: { path: '^src/measures/' },
      to: { dependencyTypes: ['core'], path: `^(${NETWORK.join('|')})$` },
    },
    {
      name: 'measure-no-files',
      severity: 'error',
      comment:
        'A measure opens no file: files the configuration names (certificates, logs) are read by the capability that uses ' +
        "them or by the broker's settingsFile (only files the measure's settings name), files an operator gives a " +
        "command by the CLI context's readFile (DESIGN.md §4).",
      from: { path: '^src/measures/' },
      to: { dependencyTypes: ['core'], path: '^(node:)?fs(/promises)?$' },
    },
    {
      name: 'measure-no-network-package',
      severity: 'error',
      comment:
        'A measure starts no HTTP server or client of its own. Its routes.ts is a plugin the core registers, typed with ' +
        'fastify-type-provider-zod and src/core/http.ts (which re-exports the Fastify types routes need), not with fastify itself.',
      from: { path: '^src/measures/' },
      to: { path: `^node_modules/(${NETWORK_PACKAGES.join('|')})/` },
    },
    {
      name: 'measure-no-listener',
      severity: 'error',
      comment:
        'The core owns the listeners, senders and readers (one RPZ primary, one dnstap receiver, one flow inlet, ' +
        "one RADIUS server, the resolvers' logs, the reports' drop directory, the RFC 5176 sender, the AAA gate, the garden page, " +
        'the sharing listener and client): a measure gets them from the broker (policy-zone-writer, dnstap-input, ' +
        'flow-input, resolver-log-input, report-input, disconnector, auth-suspender, auth-feed, sharer, garden-page) and may ' +
        'import their types only.',
      from: { path: '^src/measures/' },
      to: {
        path:
          '^src/(dns/(primary|policy-zones|resolver-log)|ingest/reports/drop|ingest/dnstap/receiver' +
          '|ingest/radius/(server|disconnect|auth-gate)|ingest/flow/(inlet|inlet-worker|native-receiver)|share/sharer' +
          '|notify/garden-page)\\.ts$',
        dependencyTypesNot: ['type-only'],
      },
    },
    {
      name: 'measure-not-another-measure',
      severity: 'error',
      comment:
        "A measure uses another's output only through the broker (candidate-feed, indicator-feed …), " +
        'whose shapes live in src/core/feeds.ts.',
      from: { path: '^src/measures/([^/]+)/' },
      to: { path: '^src/measures/', pathNot: '^src/measures/$1/' },
    },
    {
      name: 'measure-not-api-app-cli',
      severity: 'error',
      comment: "A measure's routes use src/core/http.ts (principalOf, errorSchema), never the API, the CLI or the composition root.",
      from: { path: '^src/measures/' },
      to: { path: '^src/(api|app|cli)/' },
    },
    {
      name: 'measure-not-stores',
      severity: 'error',
      comment:
        'A measure gets its stores from the broker (ownState, analyticsRead): it may name their types and the typed view ' +
        '(src/store/state/tables.ts), never the code that opens or queries them unconfined.',
      from: { path: '^src/measures/' },
      to: { path: '^src/store/', pathNot: '^src/store/state/tables\\.ts$', dependencyTypesNot: ['type-only'] },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'] },
  },
};
