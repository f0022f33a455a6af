/**
 * M6 evaluated with real peers on loopback (the scenario: test/support/m6-scenario.ts):
 * once with the attack, once benign only.
 *
 *   node dist/bench/m6-eval.js [seconds] [benign-qps] [attack-qps]
 */
import { runM6Scenario } from '../test/support/m6-scenario.js';

const [seconds, benignQps, attackQps] = [Number(process.argv[2] ?? 60), Number(process.argv[3] ?? 20_000), Number(process.argv[4] ?? 500)];
console.log(`M6 evaluation, node ${process.version}, nproc 2 (dnsperf, Unbound, BIND and Mamori on the same two cores)`);
console.log((await runM6Scenario({ seconds, benignQps, attackQps, withAttack: true })).lines.join('\n'));
console.log((await runM6Scenario({ seconds, benignQps, attackQps, withAttack: false })).lines.join('\n'));
