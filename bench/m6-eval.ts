/**
 * M6 evaluated with real peers on loopback (the scenario: test/support/m6-scenario.ts), with Unbound and with
 * BIND as the resolver: once with the attacks from a cold start, once benign only from a cold start.
 *
 *   node dist/bench/m6-eval.js [unbound|bind|both] [seconds] [benign-qps] [attack-qps per victim] [amplification-qps]
 */
import { runM6Scenario } from '../test/support/m6-scenario.js';

const which = process.argv[2] ?? 'both';
const [seconds, benignQps, attackQps, ampQps] = [
  Number(process.argv[3] ?? 90),
  Number(process.argv[4] ?? 5000),
  Number(process.argv[5] ?? 200),
  Number(process.argv[6] ?? 500),
];
console.log(
  `M6 evaluation, node ${process.version}, nproc 2 (dnsperf, ` +
    `the resolver and Mamori on the same ` +
    `two cores), warm-up 30 s, attacks from 45 s`,
);
for (const resolver of which === 'both' ? (['unbound', 'bind'] as const) : [which as 'unbound' | 'bind']) {
  console.log((await runM6Scenario({ resolver, seconds, benignQps, attackQps, ampQps, withAttack: true, onsetS: 45 })).lines.join('\n'));
  console.log(
    (
      await runM6Scenario({ resolver, seconds: Math.min(seconds, 60), benignQps, attackQps, ampQps, withAttack: false, onsetS: 0 })
    ).lines.join('\n'),
  );
}
