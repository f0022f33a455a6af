/**
 * The RPZ records of one random-subdomain rule, written so that they mean the
 * same on Unbound 1.17 and BIND 9.18 (test/interop/m6-rules.test.ts checks
 * both resolvers against one matrix of names):
 *
 * - `*.zone` blocks every name at every depth below the attacked zone; the
 *   zone itself is never blocked;
 * - each exception is an exact `rpz-passthru.`, and `*.exception` blocks the
 *   names below it. BIND matches a wildcard against any name its exact rules
 *   do not hold, but Unbound looks for a wildcard only at the closest
 *   encloser of the nearest rule: with the passthru `www.victim` alone, Unbound
 *   lets `<random>.www.victim` through while BIND blocks it (issue 18);
 * - for the same reason every name between the zone and an exception gets its
 *   own `*.` rule (`a.b.victim` as exception: `*.b.victim` too).
 *
 * Exceptions beyond `maxExceptions` are left out, least popular first: during
 * the attack those names get NXDOMAIN like the random ones. The caller passes
 * the exceptions most popular first and records how many were left out.
 */
import { canonicalName } from '../../dns/rpz.js';

export interface ZoneRules {
  /** Owners (relative to the policy zone) answered NXDOMAIN: `*.zone`, `*.exception`, `*.between`. */
  block: string[];
  /** Exact names let through. */
  passthru: string[];
  /** Exceptions not written because of the bound. */
  leftOut: number;
}

/** The records of a rule for `zone` with the exceptions given (most popular first), at most `maxExceptions` of them. */
export function zoneRules(zone: string, exceptions: readonly string[], maxExceptions: number): ZoneRules {
  const z = canonicalName(zone);
  const block = new Set<string>([`*.${z}`]);
  const passthru: string[] = [];
  let leftOut = 0;
  for (const raw of exceptions) {
    let name: string;
    try { name = canonicalName(raw); } catch { continue; } // not a name an RPZ owner can hold: never an exception
    if (name === z || !name.endsWith(`.${z}`) || passthru.includes(name)) continue;
    if (passthru.length >= maxExceptions) { leftOut++; continue; }
    passthru.push(name);
    // *.name and a wildcard at every level between the zone and the name (see above).
    for (let n = name; n !== z; n = n.slice(n.indexOf('.') + 1)) block.add(`*.${n}`);
  }
  return { block: [...block], passthru, leftOut };
}
