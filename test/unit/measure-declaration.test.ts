import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defineMeasure, MeasureDeclarationError } from '../../src/core/measure.js';
import { MeasureRegistry } from '../../src/core/registry.js';
import { ConfigError } from '../../src/core/config.js';
import { DATA_ITEMS } from '../../src/core/vocabulary.js';
import { ALL_MEASURES } from '../../src/measures/index.js';
import { runnableMeasure, validDeclaration } from '../support/fixtures.js';

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof MeasureDeclarationError, `expected MeasureDeclarationError, got ${String(err)}`);
    return err.problems;
  }
  assert.fail('the declaration was accepted');
}

describe('the eight measures of DESIGN.md', () => {
  it('are all declared, with codes M1–M8 in order', () => {
    assert.deepEqual(
      ALL_MEASURES.map((m) => m.declaration.code),
      ['M1', 'M2', 'M3', 'M4', 'M5', 'M6', 'M7', 'M8'],
    );
  });

  it('are not available until their implementation lands; M1–M4, M6 and M7 are, and are off until enabled', () => {
    const registry = new MeasureRegistry(ALL_MEASURES);
    const states = Object.fromEntries(registry.list().map((s) => [s.declaration.code, s.state]));
    assert.deepEqual(states, {
      M1: 'disabled',
      M2: 'disabled',
      M3: 'disabled',
      M4: 'disabled',
      M5: 'not-available',
      M6: 'disabled',
      M7: 'disabled',
      M8: 'not-available',
    });
  });

  it('M1, M2 and M6 may not identify subscribers; M3, M4, M5 and M7 may', () => {
    const may = Object.fromEntries(ALL_MEASURES.map((m) => [m.declaration.code, m.declaration.identifiesSubscribers]));
    assert.deepEqual(may, { M1: false, M2: false, M3: true, M4: true, M5: true, M6: false, M7: true, M8: false });
  });

  it('M2 handles only non-secret lists: the candidates it shares and the indicators partners send', () => {
    const m2 = ALL_MEASURES[1]!.declaration;
    assert.deepEqual(
      m2.dataItems.map((i) => i.item),
      ['cc.candidate', 'threat.indicator'],
    );
    assert.equal(DATA_ITEMS['cc.candidate'].secret, false);
    assert.equal(DATA_ITEMS['threat.indicator'].secret, false);
  });

  it('M3 states the consent terms and M8 is temporary', () => {
    assert.ok(ALL_MEASURES[2]!.declaration.consentTerms);
    assert.equal(ALL_MEASURES[7]!.declaration.maxActionSeconds, 86400);
  });
});

describe('defineMeasure refuses incomplete and contradictory declarations', () => {
  it('accepts the valid fixture', () => {
    assert.equal(defineMeasure(validDeclaration()).id, 'test-measure');
  });

  it('names a missing field', () => {
    const { purpose: _p, ...rest } = validDeclaration();
    const problems = problemsOf(() => defineMeasure(rest as never));
    assert.ok(
      problems.some((p) => p.startsWith('purpose:')),
      problems.join('\n'),
    );
  });

  it('names a missing Japanese text', () => {
    const problems = problemsOf(() => defineMeasure(validDeclaration({ title: { ja: ' ', en: 'x' } })));
    assert.ok(
      problems.some((p) => p.startsWith('title.ja:') && p.includes('Japanese')),
      problems.join('\n'),
    );
  });

  it('refuses a data item outside the vocabulary', () => {
    const problems = problemsOf(() =>
      defineMeasure(validDeclaration({ dataItems: [{ item: 'flow.payload' as never, retention: '1d', use: { ja: 'a', en: 'a' } }] })),
    );
    assert.ok(
      problems.some((p) => p.startsWith('dataItems.0.item')),
      problems.join('\n'),
    );
  });

  it('refuses not-secret with subscriber identification', () => {
    const problems = problemsOf(() =>
      defineMeasure(
        validDeclaration({
          bases: [{ basis: 'not-secret', scope: { ja: 'a', en: 'a' } }],
          dataItems: [
            { item: 'cc.candidate', retention: '1d', use: { ja: 'a', en: 'a' } },
            { item: 'subscriber.id', retention: '1d', use: { ja: 'a', en: 'a' } },
          ],
          identifiesSubscribers: true,
        }),
      ),
    );
    assert.ok(
      problems.some((p) => p.includes('identifiesSubscribers') && p.includes('not-secret')),
      problems.join('\n'),
    );
  });

  it('refuses secret data items on the basis not-secret alone', () => {
    const problems = problemsOf(() => defineMeasure(validDeclaration({ bases: [{ basis: 'not-secret', scope: { ja: 'a', en: 'a' } }] })));
    assert.ok(
      problems.some((p) => p.includes('"flow.addresses" is secret')),
      problems.join('\n'),
    );
  });

  it('refuses comprehensive consent without the consent terms', () => {
    const problems = problemsOf(() =>
      defineMeasure(validDeclaration({ bases: [{ basis: 'comprehensive-consent', scope: { ja: 'a', en: 'a' } }] })),
    );
    assert.ok(
      problems.some((p) => p.startsWith('consentTerms')),
      problems.join('\n'),
    );
  });

  it('refuses emergency measures with no maximum duration', () => {
    const problems = problemsOf(() => defineMeasure(validDeclaration({ bases: [{ basis: 'emergency', scope: { ja: 'a', en: 'a' } }] })));
    assert.ok(
      problems.some((p) => p.startsWith('maxActionDuration')),
      problems.join('\n'),
    );
  });

  it('refuses retention beyond the maximum and duplicated items', () => {
    const problems = problemsOf(() =>
      defineMeasure(
        validDeclaration({
          dataItems: [
            { item: 'flow.ports', retention: '401d', use: { ja: 'a', en: 'a' } },
            { item: 'flow.ports', retention: '1d', use: { ja: 'a', en: 'a' } },
          ],
        }),
      ),
    );
    assert.ok(
      problems.some((p) => p.includes('exceeds the maximum')),
      problems.join('\n'),
    );
    assert.ok(
      problems.some((p) => p.includes('declared twice')),
      problems.join('\n'),
    );
  });

  it('refuses notices without subscriber contact', () => {
    const problems = problemsOf(() => defineMeasure(validDeclaration({ outputs: ['subscriber-notices'] })));
    assert.ok(
      problems.some((p) => p.includes('"subscriber-notices" needs')),
      problems.join('\n'),
    );
  });
});

describe('the registry', () => {
  it('refuses to enable a measure that is not available', () => {
    assert.throws(
      () => new MeasureRegistry(ALL_MEASURES, { 'router-survey': { enabled: true } }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.match(err.message, /"measures\.router-survey\.enabled".*M5 is not available/);
        return true;
      },
    );
  });

  it('refuses to enable M7 without prefixes, with a bad prefix, or remediating after its reports are deleted', () => {
    const m7 = (s: Record<string, unknown>) => new MeasureRegistry(ALL_MEASURES, { 'infected-host-alert': { enabled: true, ...s } });
    assert.throws(() => m7({}), /"measures\.infected-host-alert\.prefixes": list the ISP's prefixes/);
    assert.throws(() => m7({ prefixes: ['198.51.100.1/24'] }), /each entry must be an IPv4 or IPv6 prefix/);
    assert.throws(() => m7({ prefixes: ['198.51.100.0/24'], remediatedAfter: '30d' }), /must be shorter than the 30 days/);
    assert.equal(m7({ prefixes: ['198.51.100.0/24', '2001:db8::/32'] }).status('infected-host-alert')!.state, 'enabled');
  });

  it('refuses to enable M1 without the subscriber prefixes, naming the key', () => {
    assert.throws(
      () => new MeasureRegistry(ALL_MEASURES, { 'cc-detection': { enabled: true } }),
      /"measures\.cc-detection\.scope\.subscriberPrefixes" is empty/,
    );
    assert.equal(
      new MeasureRegistry(ALL_MEASURES, { 'cc-detection': { enabled: true, scope: { subscriberPrefixes: ['10.0.0.0/8'] } } }).status(
        'cc-detection',
      )!.state,
      'enabled',
    );
  });

  it('refuses settings for an unknown measure', () => {
    assert.throws(() => new MeasureRegistry(ALL_MEASURES, { 'cc-detect': { enabled: false } }), /"measures\.cc-detect": unknown measure/);
  });

  it('reports an available measure as disabled until enabled', () => {
    const m = runnableMeasure();
    assert.equal(new MeasureRegistry([m]).status('test-measure')!.state, 'disabled');
    assert.equal(new MeasureRegistry([m], { 'test-measure': { enabled: true } }).status('test-measure')!.state, 'enabled');
  });

  it('refuses two measures with the same id or code', () => {
    assert.throws(() => new MeasureRegistry([runnableMeasure(), runnableMeasure({ id: 'other' })]), /code "M90" is declared twice/);
  });
});
