/**
 * M7 end to end against real peers: sessions from the real `radclient` (RADIUS accounting) and a CGNAT
 * port-block log; a Shadowserver event4_sinkhole report (columns in another order than the schema,
 * with rows outside the prefixes, in the future, without a port behind CGNAT, duplicated) uploaded
 * through the API and by the `mamori` command; an IntelMQ file taken from the drop directory; the
 * lookup (purpose M7, audited); one case per subscriber and family; the notice in the subscriber's
 * language to a real SMTP server (python3-aiosmtpd). Then the two stages (an opted-out subscriber is
 * alerted only for a family that burdens the network, with the reason on the case), bounded reminders,
 * remediation and re-infection, and the report of remediated cases. Last, a report imported before the
 * accounting for its time arrived: the entry is retried when that accounting comes, and becomes a case and a notice.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { serve, type Server } from '../../src/app/serve.js';
import { createLogger } from '../../src/core/logger.js';
import { shadowserverReport } from '../../src/ingest/reports/shadowserver.js';
import { getCase } from '../../src/notify/cases.js';
import { sql } from 'kysely';
import { have, havePythonModule } from '../support/flow-peers.js';
import { CLI, tempDir, testConfig } from '../support/fixtures.js';
import { freePort, radclient } from '../support/freeradius.js';
import { intelmqEvent, shadowserverCells, shadowserverCsv, SECRET_URL } from '../support/reports.js';
import { delivered, startSink } from '../support/smtp.js';

const ID = 'infected-host-alert';
const SECRET = 'testing123';
// Sessions began two days ago; reports speak of yesterday.
const NOW = Math.floor(Date.now() / 1000);
const T0 = NOW - 2 * 86_400;
const SEEN = new Date((NOW - 86_400) * 1000);
const stamp = (d: Date) => d.toISOString().replace('T', ' ').slice(0, 19); // Shadowserver: UTC, no zone

function mamori(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, timeout: 60_000 });
    let out = '';
    let err = '';
    p.stdout.on('data', (c: Buffer) => (out += c.toString()));
    p.stderr.on('data', (c: Buffer) => (err += c.toString()));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, out, err }));
  });
}

const skip = (!have('radclient') && 'radclient not installed') || (!havePythonModule('aiosmtpd') && 'python3-aiosmtpd not installed');

describe('M7: reports in, subscribers found, cases and notices out', { skip }, () => {
  let server: Server;
  let sink: ChildProcess | undefined;
  let token = '';
  let radius = 0;
  const dir = tempDir();
  const maildir = join(dir, 'maildir');
  const drops = join(dir, 'drops');

  const call = async (method: string, path: string, body?: unknown, type = 'application/json') => {
    const res = await fetch(`${server.url}/api/v1/measures/${ID}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': type }) },
      ...(body === undefined ? {} : { body: typeof body === 'string' || body instanceof Buffer ? body : JSON.stringify(body) }),
    });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  };
  const mailTo = (address: string) => delivered(maildir).filter((m) => m.raw.includes(`To: ${address}`));

  before(async () => {
    const smtpPort = await freePort();
    sink = await startSink(smtpPort, maildir);
    mkdirSync(join(drops, 'intelmq'), { recursive: true });
    const config = testConfig(
      join(dir, 'data'),
      [
        'server:\n  port: 0',
        'measures:',
        `  ${ID}:`,
        '    enabled: true',
        '    prefixes: ["198.51.100.0/24", "203.0.113.0/24"]',
        `    dropDirectory: ${JSON.stringify(drops)}`,
        '    analysisInterval: 1h',
        '    dropInterval: 1h',
        '    remediatedAfter: 7d',
        '    stage2: { burdenFamilies: [mirai], repeatedDays: 3 }',
        '    reminders: { after: 1s, max: 1 }',
        '    remediation:',
        '      andromeda: { ja: "Andromeda の駆除ツールを実行してください。", en: "Run a removal tool for Andromeda." }',
        'ingest:\n  radius:\n    listeners: [{ host: "127.0.0.1", port: 0 }]',
        '    clients: [{ address: "127.0.0.1", secret: "testing123", name: "bras1" }]\n    interimTimeout: 3d',
        'cases: { dedupeWindow: 30d, escalateAfterRepeats: 0 }',
        'notices:\n  from: "abuse@isp.example"\n  perMinute: 1000\n  maxAttempts: 3\n  deliveryInterval: 1h',
        `  smtp: { host: "127.0.0.1", port: ${smtpPort}, requireTLS: false }`,
      ].join('\n'),
    );
    server = await serve(config, { analytics: false, out: new PassThrough(), logger: createLogger('silent') });
    token = (await server.mamori.accounts.createToken('module:test', 'abuse desk', 'admin')).token;
    radius = server.radius!.addresses[0]!.port;
    const start = async (user: string, session: string, address: string) => {
      const r = await radclient(
        radius,
        'acct',
        SECRET,
        `Acct-Status-Type = Start\nUser-Name = "${user}"\nAcct-Session-Id = "${session}"\nFramed-IP-Address = ${address}\n` +
          `NAS-IP-Address = 127.0.0.1\nEvent-Timestamp = ${T0}\n`,
      );
      assert.equal(r.status, 0, r.out);
    };
    await start('alice@isp', 's-a', '198.51.100.10');
    await start('bob@isp', 's-b', '198.51.100.20');
    await start('carol@isp', 's-c', '198.51.100.30');
    // Dave is behind CGNAT: 203.0.113.7 ports 1024–2047 were his inside address's (100.64.0.5) since T0.
    await start('dave@isp', 's-d', '100.64.0.5');
    // Erin shares 203.0.113.7 with him: ports 2048–4095 are hers (100.64.0.6).
    await start('erin@isp', 's-e', '100.64.0.6');
    await server.radius!.settled();
    const blocks = await server.mamori.subscribers.importPortBlocks(
      `${T0},allocate,100.64.0.5,203.0.113.7,1024,2047\n${T0},allocate,100.64.0.6,203.0.113.7,2048,4095\n`,
      'cli:test',
    );
    assert.equal(blocks.applied, 2, JSON.stringify(blocks.skipped));
    const contacts = await server.mamori.notices.importContacts(
      'alice@isp,alice@example.net,山田 花子,ja\nbob@isp,bob@example.net,Bob,en\n' +
        'carol@isp,carol@example.net,Carol,en\ndave@isp,dave@example.net,Dave,en\nerin@isp,erin@example.net,Erin,en\n',
      'cli:test',
    );
    assert.equal(contacts.applied, 5);
  });
  after(async () => {
    sink?.kill();
    await server?.close();
  });

  it('imports a Shadowserver report by upload: columns by header, drops counted with their reason, nothing else kept', async () => {
    const schema = shadowserverReport('event4_sinkhole')!.columns;
    const columns = [...schema].reverse(); // the order changes between report versions: read by name
    const row = (ip: string, port: string, infection: string, t = SEEN) =>
      shadowserverCells('event4_sinkhole', { timestamp: stamp(t), src_ip: ip, src_port: port, infection });
    const csv = shadowserverCsv(columns, [
      row('198.51.100.10', '49152', 'andromeda'),
      row('198.51.100.10', '49153', 'andromeda', new Date(SEEN.getTime() + 60_000)), // same case
      row('198.51.100.10', '49152', 'andromeda'), // duplicate
      row('198.51.100.20', '50000', 'Emotet'),
      row('203.0.113.7', '1500', 'qakbot'), // behind CGNAT, with its port: dave
      row('203.0.113.7', '3000', 'qakbot'), // the same address, another port: erin, not dave
      row('203.0.113.7', '', 'qakbot'), // behind CGNAT without a port: cannot be resolved
      row('198.51.100.99', '40000', 'andromeda'), // ours, but nobody had it then
      row('192.0.2.1', '40000', 'andromeda'), // not the ISP's
      row('198.51.100.20', '40000', 'andromeda', new Date(Date.now() + 86_400_000)), // the future
    ]);
    const r = await call('POST', '/reports?source=shadowserver&name=2026-11-29-event4_sinkhole-asn64496.csv', csv, 'text/csv');
    assert.equal(r.status, 200, JSON.stringify(r.json));
    const s = r.json.summary as { rows: number; entries: number; dropped: Record<string, number> };
    assert.equal(s.rows, 10);
    assert.equal(s.entries, 7);
    assert.deepEqual(Object.fromEntries(Object.entries(s.dropped).filter(([, n]) => n > 0)), {
      duplicate: 1,
      'outside-prefixes': 1,
      'future-time': 1,
    });
    assert.equal(r.json.resolved, 5);
    assert.deepEqual(r.json.unresolvedReasons, { 'port-needed': 1, 'no-session': 1 });
    // Every lookup named M7 and this import, audited as one entry for the batch with their count; none wrote an address
    // into the audit log.
    let lookups = 0;
    let entries = 0;
    for await (const e of server.mamori.audit.entries()) {
      if (e.action === 'subscriber.lookup' && e.caseId === r.json.id) {
        assert.equal(e.measure, ID);
        entries++;
        lookups += e.counts?.lookups ?? 0;
      }
      assert.ok(!JSON.stringify(e).includes('198.51.100.10'), 'no address in the audit log');
    }
    assert.equal(entries, 1, 'one audit entry for the lookups of the batch');
    assert.ok(lookups >= 5 && lookups <= 7, `lookups audited: ${lookups}`);
    // Nothing but the entry leaves the parser: the sinkhole's URL is nowhere in the store.
    const dump = JSON.stringify(
      await server.mamori.state.db
        .selectFrom('m7_unresolved' as never)
        .selectAll()
        .execute(),
    );
    assert.ok(!dump.includes(SECRET_URL));
  });

  it('garden off (option not set): no gardens listed, ending one refused naming the setting; a choice is recorded', async () => {
    assert.deepEqual((await call('GET', '/garden')).json, { enabled: false, gardens: [] });
    const end = await call('POST', '/garden/bob%40isp/end');
    assert.equal(end.status, 409);
    assert.match(String(end.json.message), /walledGarden\.enabled/);
    // A subscriber may stop the garden at any time (the terms): recorded while the option is off too.
    const optOut = await call('POST', '/garden/consent', { subscriber: 'bob@isp', choice: 'opt-out', channel: 'support-desk' });
    assert.equal(optOut.status, 200, JSON.stringify(optOut.json));
    assert.deepEqual(optOut.json, { subscriber: 'bob@isp', gardenOptedOut: true });
    const rows = await sql<{ choice: string }>`select choice from m7_garden_choice where subscriber = 'bob@isp'`.execute(
      server.mamori.state.db,
    );
    assert.deepEqual(rows.rows, [{ choice: 'opt-out' }]);
  });

  it('refuses a report it cannot read, naming why, and stores nothing of it', async () => {
    const bad = await call('POST', '/reports?source=shadowserver&name=scan_ssl.csv', 'a,b\n1,2\n', 'text/csv');
    assert.equal(bad.status, 422);
    assert.match(String(bad.json.message), /scan_ssl/);
    const unknown = await call('POST', '/reports?source=nobody', 'x', 'text/csv');
    assert.equal(unknown.status, 422);
    assert.match(String(unknown.json.message), /not a registered report source/);
    const json = await call('POST', '/reports?source=shadowserver', { a: 1 });
    assert.equal(json.status, 415);
  });

  it('imports an IntelMQ file from the drop directory, then deletes it and keeps only its counts', async () => {
    const lines = [
      intelmqEvent({ 'source.ip': '198.51.100.20', 'source.port': 50001, 'malware.name': 'emotet', 'time.source': SEEN.toISOString() }),
      intelmqEvent({ 'source.ip': '198.51.100.30', 'source.port': 50002, 'malware.name': 'andromeda', 'time.source': SEEN.toISOString() }),
      intelmqEvent({ 'source.ip': '198.51.100.30', 'classification.type': 'c2-server', 'time.source': SEEN.toISOString() }),
      intelmqEvent({ 'source.ip': '198.51.100.20', 'time.source': '2026-11-28 10:00:00' }), // no zone
    ];
    const file = join(drops, 'intelmq', 'events.jsonl');
    writeFileSync(file, lines.map((l) => JSON.stringify(l)).join('\n') + '\n{broken\n');
    const old = new Date(Date.now() - 60_000);
    utimesSync(file, old, old);
    const r = await call('POST', '/drops/scan');
    assert.deepEqual(r.json, { imported: 1, failed: 0 });
    assert.deepEqual(readdirSync(join(drops, 'intelmq')), [], 'the report is deleted once imported');
    const results = readdirSync(join(drops, 'done'));
    assert.equal(results.length, 1);
    const result = JSON.parse(readFileSync(join(drops, 'done', results[0]!), 'utf8')) as {
      summary: { rows: number; entries: number; dropped: Record<string, number> };
      resolved: number;
    };
    assert.equal(result.summary.rows, 5);
    assert.equal(result.summary.dropped['unknown-report-type'], 1);
    assert.equal(result.summary.dropped['time-without-zone'], 1);
    assert.equal(result.summary.dropped['malformed-row'], 1);
    assert.equal(result.resolved, 2);
  });

  it('imports by the mamori command (streamed upload to the running server)', async () => {
    const csv = shadowserverCsv(shadowserverReport('event4_sinkhole')!.columns, [
      shadowserverCells('event4_sinkhole', { timestamp: stamp(SEEN), src_ip: '198.51.100.30', src_port: '1234', infection: 'mirai' }),
    ]);
    const file = join(dir, '2026-11-29-event4_sinkhole-jp.csv');
    writeFileSync(file, csv);
    const r = await mamori([ID, 'import', file, '--source', 'shadowserver'], { MAMORI_URL: server.url, MAMORI_TOKEN: token });
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /1 rows, 1 entries, 1 matched to a subscriber, 0 not/);
  });

  it('stage 1 under consent; an opted-out subscriber only for a family burdening the network (stage 2, reason on the case)', async () => {
    const optOut = await call('POST', '/consent', { subscriber: 'carol@isp', choice: 'opt-out', channel: 'member-site' });
    assert.equal(optOut.status, 200);
    const a = await call('POST', '/analyze');
    assert.equal(a.status, 200, JSON.stringify(a.json));
    // alice andromeda, bob emotet, dave and erin qakbot: stage 1; carol andromeda held; carol mirai: stage 2.
    assert.equal(a.json.notified, 5, JSON.stringify(a.json));
    assert.equal(a.json.stage2, 1);
    assert.equal(a.json.held, 1);
    await server.mamori.notices.deliver();
    const alice = mailTo('alice@example.net');
    assert.equal(alice.length, 1);
    assert.match(alice[0]!.subject, /andromeda/);
    assert.match(alice[0]!.text, /山田 花子 様/);
    assert.match(alice[0]!.text, /The Shadowserver Foundation|Shadowserver Foundation/);
    assert.match(alice[0]!.text, /Andromeda の駆除ツール/, "the operator's remediation text, in Japanese");
    assert.match(alice[0]!.text, /オプトアウト/);
    const bob = mailTo('bob@example.net');
    assert.equal(bob.length, 1, 'emotet from two reports is one case and one notice');
    assert.match(bob[0]!.text, /"emotet"/);
    assert.match(bob[0]!.text, /security software/, 'the default advice, in English');
    assert.equal(mailTo('dave@example.net').length, 1, 'found behind CGNAT by address and port');
    assert.equal(mailTo('erin@example.net').length, 1, 'the same CGNAT address with another port is another subscriber');
    const carol = mailTo('carol@example.net');
    assert.equal(carol.length, 1, 'carol: the mirai notice only');
    assert.match(carol[0]!.text, /legitimate business act/);
    assert.match(carol[0]!.text, /burdens our network/);
    const alerts = (await call('GET', '/alerts')).json.alerts as Array<Record<string, unknown>>;
    const mirai = alerts.find((x) => x.family === 'mirai')!;
    assert.equal(mirai.stage, 2);
    assert.equal(mirai.basis, 'legitimate-business');
    const c = await getCase(server.mamori.state, String(mirai.case_id));
    assert.equal(c?.stage, 2);
    assert.ok(c?.timeline.some((e) => e.event === 'basis:legitimate-business' && /burdens-network/.test(e.detail ?? '')));
    const held = alerts.find((x) => x.subscriber === 'carol@isp' && x.family === 'andromeda')!;
    assert.equal(held.status, 'held');
    assert.equal(held.case_id, null);
  });

  it('reminds once when the device is still seen, then stops (bounded)', async () => {
    const again = (t: Date) =>
      shadowserverCsv(shadowserverReport('event4_sinkhole')!.columns, [
        shadowserverCells('event4_sinkhole', { timestamp: stamp(t), src_ip: '198.51.100.10', src_port: '4000', infection: 'andromeda' }),
      ]);
    await new Promise((r) => setTimeout(r, 1100)); // reminders.after is 1 s here
    // Seen before the notice went out: no evidence the subscriber did nothing; no reminder.
    await call('POST', '/reports?source=shadowserver&type=event4_sinkhole', again(new Date(SEEN.getTime() + 3_600_000)), 'text/csv');
    assert.equal((await call('POST', '/analyze')).json.reminders, 0);
    // Seen after it: one reminder.
    await call('POST', '/reports?source=shadowserver&type=event4_sinkhole', again(new Date(Date.now() - 100)), 'text/csv');
    assert.equal((await call('POST', '/analyze')).json.reminders, 1);
    await new Promise((r) => setTimeout(r, 1100));
    await call('POST', '/reports?source=shadowserver&type=event4_sinkhole', again(new Date(Date.now() - 100)), 'text/csv');
    assert.equal((await call('POST', '/analyze')).json.reminders, 0, 'max 1 reminder');
    await server.mamori.notices.deliver();
    assert.equal(mailTo('alice@example.net').length, 2);
  });

  it('closes a case as remediated when the device is no longer seen, reopens it when seen again, and reports per family', async () => {
    const r = (await call('POST', '/analyze')).json; // not yet: seen yesterday
    assert.equal(r.remediated, 0);
    // Eight days pass: every time M7 keeps moves back by eight days.
    const back = (column: string, table: string) =>
      sql`update ${sql.table(table)} set ${sql.ref(column)} = strftime('%Y-%m-%dT%H:%M:%fZ', ${sql.ref(column)}, '-8 days')
        where ${sql.ref(column)} is not null`.execute(server.mamori.state.db);
    for (const c of ['first_seen', 'last_seen', 'first_notice_at', 'last_notice_at']) await back(c, 'm7_alerts');
    await back('notified_at', 'm7_outcomes');
    const done = (await call('POST', '/analyze')).json;
    assert.equal(done.remediated, 6, JSON.stringify(done));
    const report = (await call('GET', '/report')).json.rows as Array<Record<string, unknown>>;
    const andromeda = report.find((x) => x.family === 'andromeda')!;
    assert.deepEqual([andromeda.notified, andromeda.within14d, andromeda.within30d, andromeda.open], [1, 1, 1, 0]);
    // Seen again (a report about "now" arrives): the case reopens.
    const csv = shadowserverCsv(shadowserverReport('event4_sinkhole')!.columns, [
      shadowserverCells('event4_sinkhole', {
        timestamp: stamp(new Date()),
        src_ip: '198.51.100.20',
        src_port: '4001',
        infection: 'emotet',
      }),
    ]);
    await call('POST', '/reports?source=shadowserver&type=event4_sinkhole', csv, 'text/csv');
    const again = (await call('POST', '/analyze')).json;
    assert.equal(again.reopened, 1, JSON.stringify(again));
    await server.mamori.notices.deliver();
    assert.equal(mailTo('bob@example.net').length, 2, 'the reopened case is notified again');
    const alerts = (await call('GET', '/alerts')).json.alerts as Array<Record<string, unknown>>;
    const emotet = alerts.find((x) => x.family === 'emotet')!;
    const c = await getCase(server.mamori.state, String(emotet.case_id));
    assert.equal(c?.status, 'notified');
    assert.ok(c?.timeline.some((e) => e.event === 'reinfected'));
    const emotetRow = ((await call('GET', '/report')).json.rows as Array<Record<string, unknown>>).find((x) => x.family === 'emotet')!;
    assert.equal(emotetRow.reinfected, 1);
  });

  it('matches an entry again when late accounting covers its time: a case and a notice; what cannot change stays', async () => {
    // Three hours ago frank@isp had 198.51.100.40, but the BRAS's accounting for it was buffered during an outage.
    const LATE = NOW - 3 * 3600;
    const cell = (ip: string, port: string, infection: string) =>
      shadowserverCells('event4_sinkhole', { timestamp: stamp(new Date(LATE * 1000)), src_ip: ip, src_port: port, infection });
    const csv = shadowserverCsv(shadowserverReport('event4_sinkhole')!.columns, [
      cell('198.51.100.40', '40000', 'andromeda'), // no session yet
      cell('203.0.113.7', '', 'qakbot'), // behind CGNAT without a port: no accounting can help
      cell('192.0.2.9', '40000', 'andromeda'), // not the ISP's
    ]);
    const r = await call('POST', '/reports?source=shadowserver&type=event4_sinkhole', csv, 'text/csv');
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.deepEqual(r.json.unresolvedReasons, { 'no-session': 1, 'port-needed': 1 });
    assert.equal((r.json.summary as { dropped: Record<string, number> }).dropped['outside-prefixes'], 1);
    const id = String(r.json.id);
    const contacts = await server.mamori.notices.importContacts('frank@isp,frank@example.net,Frank,en\n', 'cli:test');
    assert.equal(contacts.applied, 1);

    // The buffered accounting is replayed now: a Start and a Stop stamped with their own times (Event-Timestamp).
    const acct = async (type: string, at: number) => {
      const x = await radclient(
        radius,
        'acct',
        SECRET,
        `Acct-Status-Type = ${type}\nUser-Name = "frank@isp"\nAcct-Session-Id = "s-f"\nFramed-IP-Address = 198.51.100.40\n` +
          `NAS-IP-Address = 127.0.0.1\nEvent-Timestamp = ${at}\n`,
      );
      assert.equal(x.status, 0, x.out);
    };
    await acct('Start', LATE - 1800);
    await acct('Stop', LATE + 1800);
    await server.radius!.settled();

    // The import's count shows the entry matched later (waited for, bounded).
    type Import = { id: string; resolved_later: number; unresolved: number };
    let imported: Import | undefined;
    for (const until = Date.now() + 20_000; Date.now() < until; await new Promise((w) => setTimeout(w, 100))) {
      const list = (await call('GET', '/imports')).json.imports as Import[];
      imported = list.find((x) => x.id === id);
      if (imported && imported.resolved_later > 0) break;
    }
    assert.equal(imported?.resolved_later, 1, 'the entry was matched when its accounting arrived');
    assert.equal(imported?.unresolved, 1 + 1, 'the count at import stays as it was');

    // It is a sighting like any other: the analysis opens a case and the notice reaches the subscriber.
    const a = (await call('POST', '/analyze')).json;
    assert.equal(a.notified, 1, JSON.stringify(a));
    await server.mamori.notices.deliver();
    const frank = mailTo('frank@example.net');
    assert.equal(frank.length, 1);
    assert.match(frank[0]!.subject, /andromeda/);
    const alerts = (await call('GET', '/alerts')).json.alerts as Array<Record<string, unknown>>;
    const alert = alerts.find((x) => x.subscriber === 'frank@isp')!;
    assert.equal(alert.status, 'notified');
    assert.ok((await getCase(server.mamori.state, String(alert.case_id)))?.timeline.some((e) => e.event === 'notice:stage-1'));

    // What no accounting can change stays unresolved: this import's CGNAT entry without a port, and the first
    // report's address nobody had (the replayed session does not cover it).
    const left = await server.mamori.state.db
      .selectFrom('m7_unresolved' as never)
      .select(['import_id' as never, 'reason' as never])
      .execute();
    const reasons = (left as Array<{ import_id: string; reason: string }>).filter((x) => x.import_id === id).map((x) => x.reason);
    assert.deepEqual(reasons, ['port-needed']);
    assert.equal((left as Array<{ reason: string }>).filter((x) => x.reason === 'no-session').length, 1);

    // The pass is audited once with its counts, naming no subscriber and no address; its lookups name the import.
    const retries: Array<Record<string, number>> = [];
    let retryLookups = 0;
    for await (const e of server.mamori.audit.entries()) {
      if (e.action === 'm7.unresolved.retry') {
        retries.push(e.counts ?? {});
        assert.ok(!/198\.51\.100\.40|frank/.test(JSON.stringify(e)), 'no address or subscriber in the audit log');
      }
      if (e.action === 'subscriber.lookup' && e.caseId === id) retryLookups += e.counts?.lookups ?? 0;
    }
    assert.equal(
      retries.reduce((n, c) => n + (c.resolved ?? 0), 0),
      1,
    );
    assert.equal(retryLookups, 2 + 1, 'two lookups at import, one when the accounting came');

    const cli = await mamori([ID, 'imports'], { MAMORI_URL: server.url, MAMORI_TOKEN: token });
    assert.equal(cli.code, 0, cli.err);
    assert.match(cli.out.split('\n').find((l) => l.startsWith(id)) ?? '', /matched later 1/);
  });
});
