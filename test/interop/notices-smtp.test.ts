/**
 * Cases and notices against a real SMTP server (Debian's python3-aiosmtpd,
 * a Maildir sink on loopback): a measure opens a case (deduplicated, then
 * escalated), notifies its subscriber in their language, and the message
 * arrives; with SMTP down the notice waits and is retried, never lost; with no
 * SMTP configured it goes to the outbox as an .eml file.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Mamori } from '../../src/app/mamori.js';
import { CapabilityRefusedError } from '../../src/core/capabilities.js';
import { getCase, type CaseApi } from '../../src/notify/cases.js';
import type { Notifier } from '../../src/notify/notices.js';
import { ALL_MEASURES } from '../../src/measures/index.js';
import { havePythonModule } from '../support/flow-peers.js';
import { delivered, startSink } from '../support/smtp.js';
import { freePort } from '../support/freeradius.js';
import { measuresWithM1InletOnly, openTest, tempDir, identifyingMeasure } from '../support/fixtures.js';

const alerting = identifyingMeasure();

describe('cases and notices by mail', { skip: !havePythonModule('aiosmtpd') && 'python3-aiosmtpd not installed' }, () => {
  let m: Mamori;
  let sink: ChildProcess | undefined;
  let port: number;
  let cases: CaseApi;
  let notifier: Notifier;
  const maildir = join(tempDir(), 'maildir');

  before(async () => {
    port = await freePort();
    sink = await startSink(port, maildir);
    m = await openTest(
      [
        'measures:\n  lookup-test: { enabled: true }',
        'cases: { dedupeWindow: 7d, escalateAfterRepeats: 2 }',
        `notices:\n  from: "abuse@isp.example"\n  perMinute: ` +
          `100\n  maxAttempts: 5\n  smtp: { host: ` +
          `"127.0.0.1", port: ${port}, requireTLS: false }`,
      ].join('\n'),
      { measures: [...ALL_MEASURES, alerting] },
    );
    const caps = m.broker.forMeasure('lookup-test');
    cases = await caps.action<CaseApi>('cases');
    notifier = await caps.action<Notifier>('notifier');
    const r = await m.notices.importContacts(
      'subscriber,email,name,language\nalice@isp,alice@example.net,山田 花子,ja\nbob@isp,bob@example.net,Bob,en\nbroken-line\n',
      'cli:test',
    );
    assert.deepEqual([r.applied, r.skipped.map((s) => s.line)], [2, [4]]);
  });
  after(async () => {
    sink?.kill();
    await m?.close();
  });

  it('opens one case per subscriber and kind within the window, and escalates a recurring one', async () => {
    const first = await cases.open({ kind: 'infection-alert', subscriber: 'alice@isp', summary: 'contacts to a C&C server' });
    assert.equal(first.created, true);
    const again = await cases.open({ kind: 'infection-alert', subscriber: 'alice@isp', summary: 'contacts again' });
    assert.equal(again.case.id, first.case.id);
    assert.equal(again.created, false);
    const third = await cases.open({ kind: 'infection-alert', subscriber: 'alice@isp', summary: 'and again' });
    assert.equal(third.escalated, true);
    assert.equal(third.case.stage, 2);
    assert.deepEqual(
      third.case.timeline.map((e) => e.event),
      ['opened', 'repeat', 'repeat', 'escalated'],
    );
  });

  it("sends the notice in the subscriber's language through the real SMTP server, and records it on the case", async () => {
    const c = await cases.open({ kind: 'infection-alert', subscriber: 'alice@isp', summary: 'contacts to a C&C server' });
    const id = await notifier.notify(c.case.id, {
      detectionTime: '2026-11-24 09:00',
      deviceAdvice: 'ウイルス対策ソフトで検査してください。',
      optOut: 'https://isp.example/optout',
      support: '0120-000-000',
    });
    const d = await m.notices.deliver();
    assert.deepEqual(d, { sent: 1, failed: 0, deferred: 0 });
    // The sender's health, as the overview and /metrics show it: counts only.
    assert.deepEqual(m.notices.sender(), { listener: 'smtp', counts: { sent: 1 }, refused: { retried: 0, failed: 0 } });
    const mails = delivered(maildir);
    assert.equal(mails.length, 1);
    assert.equal(mails[0]!.subject, '【重要】お客様の機器がマルウェアに感染している可能性があります');
    assert.match(mails[0]!.text, /山田 花子 様/);
    assert.match(mails[0]!.text, /ウイルス対策ソフトで検査してください。/);
    assert.match(mails[0]!.raw, new RegExp(`X-Mamori-Notice: ${id}`));
    assert.match(mails[0]!.raw, /^To: alice@example\.net/m);
    const after = await getCase(m.state, c.case.id);
    assert.equal(after!.status, 'notified');
    assert.ok(after!.timeline.some((e) => e.event === 'notice.sent'));
  });

  it('keeps a notice while SMTP is down and delivers it on a later try', async () => {
    sink!.kill();
    await new Promise((r) => setTimeout(r, 300));
    const c = await cases.open({ kind: 'vulnerable-router', subscriber: 'bob@isp', summary: 'admin login exposed to the WAN' });
    const id = await notifier.notify(c.case.id, {
      detectionTime: '2026-11-24 10:00',
      deviceAdvice: 'Turn off remote administration.',
      support: 'support@isp.example',
    });
    assert.deepEqual(await m.notices.deliver(), { sent: 0, failed: 0, deferred: 1 });
    assert.deepEqual(m.notices.sender().refused, { retried: 1, failed: 0 }, 'the failed try is counted');
    const waiting = await m.notices.status(id);
    assert.equal(waiting!.status, 'queued');
    assert.equal(waiting!.attempts, 1);
    assert.ok(waiting!.last_error);
    assert.deepEqual(await m.notices.deliver(), { sent: 0, failed: 0, deferred: 0 }, 'not before its backoff');
    sink = await startSink(port, maildir);
    assert.deepEqual(await m.notices.deliver(new Date(Date.now() + 2 * 60_000)), { sent: 1, failed: 0, deferred: 0 });
    const mail = delivered(maildir).find((x) => x.raw.includes(id))!;
    assert.equal(mail.subject, '[Important] Please review the settings of your router');
    assert.match(mail.text, /Dear Bob,/);
  });

  it('refuses cases and notices to measures that may not act on subscribers', async () => {
    const m1 = await openTest('measures:\n  cc-detection: { enabled: true }\n', { measures: measuresWithM1InletOnly() });
    try {
      await assert.rejects(m1.broker.forMeasure('cc-detection').action('cases'), CapabilityRefusedError);
      await assert.rejects(m1.broker.forMeasure('cc-detection').action('notifier'), CapabilityRefusedError);
    } finally {
      await m1.close();
    }
  });

  it('writes .eml files to the outbox when no SMTP server is configured', async () => {
    const o = await openTest('measures:\n  lookup-test: { enabled: true }\n', { measures: [...ALL_MEASURES, alerting] });
    try {
      await o.notices.importContacts('carol@isp,carol@example.net,Carol,en', 'cli:test');
      const c = await (
        await o.broker.forMeasure('lookup-test').action<CaseApi>('cases')
      ).open({ kind: 'infection-alert', subscriber: 'carol@isp', summary: 'x' });
      const id = await (await o.broker.forMeasure('lookup-test').action<Notifier>('notifier')).notify(c.case.id, {});
      assert.equal((await o.notices.deliver()).sent, 1);
      const eml = readFileSync(join(o.paths.dataDir, 'outbox', `${id}.eml`), 'utf8');
      assert.match(eml, /^To: carol@example\.net/m);
    } finally {
      await o.close();
    }
  });
});
