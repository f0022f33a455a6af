/**
 * M2's TAXII server paging through a large collection: N indicator versions
 * (default 100,000) in the C&C collection, pulled over HTTPS by a recipient
 * with a bearer token, following `next` page after page, at several page
 * sizes; then a resumed poll (`added_after`) that gets only the newest 1%.
 * Each page is authenticated, filtered in SQLite, and audited. No TAXII peer
 * installs here (medallion and OpenTAXII are Python packages; only the npm
 * registry and Debian are reachable), so the figures stand alone.
 *
 *   node dist/bench/taxii-pages.js [objects=100000]
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { serve } from '../src/app/serve.js';
import { parseConfig } from '../src/core/config.js';
import { createLogger } from '../src/core/logger.js';
import { addVersion, COLLECTIONS } from '../src/measures/cc-sharing/entries.js';
import { addRecipient, issueCredential } from '../src/measures/cc-sharing/recipients.js';
import { identityOf, indicatorOf } from '../src/measures/cc-sharing/stix.js';
import { shareDb } from '../src/measures/cc-sharing/tables.js';
import { TaxiiClient } from '../test/support/taxii-client.js';

const total = Number(process.argv[2] ?? 100_000);
const dir = mkdtempSync(join(tmpdir(), 'mamori-bench-taxii-'));
const config = parseConfig(
  [
    `dataDir: ${JSON.stringify(dir)}`,
    'server: { port: 0 }',
    'measures:',
    '  cc-sharing: { enabled: true, organisation: { name: "Bench ISP" }, taxii: { host: "127.0.0.1", port: 0, maxPage: 1000 } }',
  ].join('\n'),
  'bench',
);
const server = await serve(config, { analytics: false, out: new PassThrough(), logger: createLogger('silent') });
try {
  const m = server.mamori;
  const own = await m.broker.forMeasure('cc-sharing').ownState();
  const t0 = Date.now();
  const base = Date.UTC(2026, 10, 1);
  await own.store.writeTransaction(async (tx) => {
    const s = shareDb(tx);
    const identity = identityOf('Bench ISP', new Date(base).toISOString());
    await addVersion(s, 'cc', identity as unknown as Record<string, unknown>, new Date(base));
    for (let i = 0; i < total; i++) {
      const address = `198.${18 + ((i >> 16) & 1)}.${(i >> 8) & 255}.${i & 255}`;
      const at = new Date(base + i * 1000).toISOString();
      const e = {
        id: `indicator--${(i + 1).toString(16).padStart(8, '0')}-0000-4000-8000-000000000000`,
        address,
        port: 443 + (i % 7),
        proto: 6,
        firstDetected: at,
        lastDetected: at,
        validUntil: new Date(base + i * 1000 + 14 * 86_400_000).toISOString(),
        confidence: 90,
      };
      await addVersion(s, 'cc', indicatorOf(e, identity.id, at, at, false), new Date(base + i * 1000));
    }
  });
  process.stdout.write(`stored ${total.toLocaleString('en')} indicator versions in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  const r = await addRecipient(
    m.state,
    m.audit,
    {
      name: 'Bench Partner',
      contact: 'bench',
      attestedAt: '2026-01-01T00:00:00Z',
      attestationUntil: '2099-01-01T00:00:00Z',
      channels: ['taxii'],
      rights: [{ collection: COLLECTIONS.cc.alias, read: true, write: false }],
    },
    'cli:bench',
  );
  const { secret } = await issueCredential(m.state, m.audit, r.id, 'token', 'cli:bench');
  const client = new TaxiiClient(
    server.endpoints['cc-sharing']!.taxii!.replace(/taxii2\/$/, ''),
    readFileSync(join(dir, 'taxii-tls', 'cert.pem'), 'utf8'),
    { token: secret },
  );
  let lastAdded = '';
  for (const limit of [1000, 100]) {
    const start = process.hrtime.bigint();
    const all = await client.allObjects('/mamori/', COLLECTIONS.cc.id, { limit });
    const s = Number(process.hrtime.bigint() - start) / 1e9;
    if (all.objects.length !== total + 1) throw new Error(`got ${all.objects.length} objects, expected ${total + 1}`);
    lastAdded = all.lastAdded!;
    process.stdout.write(
      `full pull, limit ${limit}: ${all.objects.length.toLocaleString('en')} ` +
        `objects in ${all.pages.toLocaleString('en')} ` +
        (`pages, ${s.toFixed(2)} s, ${Math.round(all.objects.length / s).toLocaleString('en')} ` + `objects/s\n`),
    );
  }
  // A resumed poll: the newest 1% by date_added.
  const { date_added: cut } = await shareDb(m.state.db)
    .selectFrom('share_versions')
    .select('date_added')
    .orderBy('seq', 'desc')
    .offset(Math.floor(total / 100))
    .limit(1)
    .executeTakeFirstOrThrow();
  const start = process.hrtime.bigint();
  const resumed = await client.allObjects('/mamori/', COLLECTIONS.cc.id, { added_after: cut });
  const s = Number(process.hrtime.bigint() - start) / 1e9;
  process.stdout.write(
    `resumed poll (added_after): ${resumed.objects.length.toLocaleString('en')} ` +
      `objects in ${resumed.pages} ` +
      (`page(s), ${(s * 1000).toFixed(0)} ms; last date_added ` + `seen ${lastAdded}\n`),
  );
} finally {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
}
