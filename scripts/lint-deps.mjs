#!/usr/bin/env node
/**
 * `npm run lint:deps` (and the first step of `npm test`): checks src/ against the rules in
 * .dependency-cruiser.cjs and exits 1 on any violation, listing each with the rule's reason.
 *
 * Through dependency-cruiser's API rather than its `depcruise` command: 18.x's command refuses
 * to start on Node 20 (its engines field says ^22||^24||>=26) while Mamori supports Node >= 20.11;
 * the API does the same analysis and has no such check.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cruise } from 'dependency-cruiser';

const require = createRequire(import.meta.url);
const config = require('../.dependency-cruiser.cjs');
const result = await cruise(['src'], { ...config.options, validate: true, ruleSet: { forbidden: config.forbidden } });
const { summary } = result.output;
// Violations recorded when a rule was added, each to be removed by the change that fixes it (an empty list is the goal).
const knownFile = new URL('../.dependency-cruiser-known-violations.json', import.meta.url);
const known = existsSync(knownFile) ? JSON.parse(readFileSync(knownFile, 'utf8')) : [];
const key = (v) => `${v.rule.name} ${v.from} ${v.to}`;
const knownKeys = new Set(known.map(key));
for (const v of summary.violations.filter((x) => knownKeys.has(key(x))))
  process.stderr.write(`known ${v.rule.name}: ${v.from} → ${v.to}\n`);
const violations = summary.violations.filter((x) => !knownKeys.has(key(x)));
for (const v of violations) {
  const rule = config.forbidden.find((r) => r.name === v.rule.name);
  const path = v.cycle ? [v.from, ...v.cycle.map((c) => c.name ?? c)].join(' → ') : `${v.from} → ${v.to}`;
  process.stderr.write(`${v.rule.severity} ${v.rule.name}: ${path}\n  ${rule?.comment ?? ''}\n`);
}
const errors = violations.filter((v) => v.rule.severity === 'error').length;
process.stderr.write(
  `dependency rules: ${summary.totalCruised} modules, ${summary.totalDependenciesCruised} dependencies, ` +
    `${errors} violation${errors === 1 ? '' : 's'}${known.length ? `, ${known.length} known` : ''}\n`,
);
process.exitCode = errors > 0 ? 1 : 0;
