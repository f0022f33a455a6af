/**
 * The RPZ records of one random-subdomain rule, written so that they mean the
 * same on Unbound 1.17 and BIND 9.18 (test/interop/m6-rules.test.ts checks
 * both resolvers against one matrix of names):
 *
 * - `*.zone` blocks every name at every depth below the attacked zone; the
 *   zone itself is never blocked;
 * - each exception is an exact `rpz-passthru.`, and `*.exception` blocks the
 *   names below it. Both resolvers follow the closest encloser: a name with a
 *   rule of its own hides `*.zone` from the names below it, so with the
 *   passthru `www.victim` alone, `<random>.www.victim` passes on Unbound and
 *   on BIND alike (issue 18);
 * - every name between the zone and a deeper exception (`b.victim` for
 *   `a.b.victim`) gets `*.` too, and an exact passthru: it is an empty
 *   non-terminal of the policy zone, which BIND never matches with
 *   `*.victim` while Unbound does — the passthru makes both resolve it.
 *
 * Exceptions beyond `maxExceptions` are left out, least popular first: during
 * the attack those names get NXDOMAIN like the random ones. The caller passes
 * the exceptions most popular first and records how many were left out.
 */
import { canonicalName } from '../../dns/rpz.js';

export interface ZoneRules {
  /** Owners (relative to the policy zone) answered NXDOMAIN: `*.zone`, `*.exception`, `*.between`. */
  block: string[];
  /** Exact names let through: the exceptions and the names between them and the zone. */
  passthru: string[];
  /** Exceptions not written because of the bound. */
  leftOut: number;
}

/** The records of a rule for `zone` with the exceptions given (most popular first), at most `maxExceptions` of them. */
export function zoneRules(zone: string, exceptions: readonly string[], maxExceptions: number): ZoneRules {
  const z = canonicalName(zone);
  const block = new Set<string>([`*.${z}`]);
  const passthru = new Set<string>();
  let leftOut = 0;
  let taken = 0;
  for (const raw of exceptions) {
    let name: string;
    try {
      name = canonicalName(raw);
    } catch {
      continue;
    } // not a name an RPZ owner can hold: never an exception
    if (name === z || !name.endsWith(`.${z}`) || passthru.has(name)) continue;
    if (taken >= maxExceptions) {
      leftOut++;
      continue;
    }
    taken++;
    passthru.add(name);
    // *.name, and at every level between the zone and the name a wildcard and a passthru (see above).
    block.add(`*.${name}`);
    for (let n = name.slice(name.indexOf('.') + 1); n !== z; n = n.slice(n.indexOf('.') + 1)) {
      block.add(`*.${n}`);
      passthru.add(n);
    }
  }
  return { block: [...block], passthru: [...passthru], leftOut };
}
