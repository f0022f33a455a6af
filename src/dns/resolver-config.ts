/**
 * Copy-paste resolver configuration for Mamori's policy zones, for the
 * resolvers ISPs run: BIND 9.18 and Unbound 1.17 (tested with
 * named-checkconf / unbound-checkconf and as secondaries in the interop
 * tests), PowerDNS Recursor 4.8 (rpzPrimary) and Knot Resolver 5.6 (zone file
 * export). Opt-out: BIND takes Mamori's `rpz-client-ip` passthru records;
 * Unbound 1.17's client-IP trigger is unreliable, so opted-out addresses are
 * given a tag that the policy does not apply to (a change of those addresses
 * needs `unbound-control reload`).
 */
import type { RpzZone } from './rpz.js';

export interface ResolverConfigInput {
  /** The policy zone(s), opt-out first: the first zone that matches decides. */
  zones: string[];
  primary: { address: string; port: number };
  tsig?: { name: string; secretBase64: string };
  /** Unbound: the addresses of opted-out subscribers (it cannot use the client-IP records). */
  optedOut?: string[];
}

export function bindConfig(c: ResolverConfigInput): string {
  const key = c.tsig ? `key "${c.tsig.name}" {\n\talgorithm hmac-sha256;\n\tsecret "${c.tsig.secretBase64}";\n};\n\n` : '';
  const zones = c.zones
    .map(
      (z) =>
        `zone "${z}" {\n\ttype secondary;\n\tprimaries { ${c.primary.address} ` +
        `port ${c.primary.port}${c.tsig ? ` key "${c.tsig.name}"` : ''}; ` +
        `};\n\tfile "${z}.db";\n\tallow-query { localhost; };\n};`,
    )
    .join('\n\n');
  return `// Mamori policy zones — paste into named.conf (BIND 9.18).
${key}${zones}

// In "options { … };":
//	response-policy {
${c.zones.map((z) => `//		zone "${z}";`).join('\n')}
//	} min-update-interval 5;	// default 60 s: how long BIND may wait before applying a transfer

// What M3 counts and whom it tells (measures.cc-dns-blocking.resolverLogs, format bind):
// logging {
//	channel mamori_rpz { file "/var/log/named/rpz.log" versions 5 size 100m; print-time yes; severity info; };
//	category rpz { mamori_rpz; };
// };
`;
}

export function unboundConfig(c: ResolverConfigInput): string {
  const tags = (c.optedOut ?? []).map((a) => `\taccess-control: ${a}/32 allow\n\taccess-control-tag: ${a}/32 "mamori-optout"`).join('\n');
  // rpz-log with the zone as its name: what M3 counts (measures.cc-dns-blocking.resolverLogs).
  const rpz = c.zones
    .map(
      (z) =>
        `rpz:\n\tname: "${z}"\n\tprimary: ${c.primary.address}@${c.primary.port}\n\tzonefile: ` +
        `"/var/lib/unbound/${z}.zone"\n\trpz-log: ` +
        `yes\n\trpz-log-name: "${z}"\n\ttags: "mamori-filtered"`,
    )
    .join('\n');
  return `# Mamori policy zones — paste into unbound.conf (Unbound 1.17). Unbound's RPZ has no TSIG:
# put this resolver's address in Mamori's rpz.transferTo, and set no rpz.tsig keys (with keys, every request must be signed).
server:
\tmodule-config: "respip validator iterator"
\tdefine-tag: "mamori-filtered mamori-optout"
\t# Every client is filtered unless tagged as opted out (reload after a change: unbound-control reload).
\taccess-control-tag: 0.0.0.0/0 "mamori-filtered"
${tags}
${rpz}
`;
}

export function pdnsRecursorConfig(c: ResolverConfigInput): string {
  const tsig = c.tsig ? `, tsigname="${c.tsig.name}", tsigalgo="hmac-sha256", tsigsecret="${c.tsig.secretBase64}"` : '';
  return `-- Mamori policy zones — add to the Lua config file of PowerDNS Recursor 4.8 (lua-config-file).
${c.zones.map((z) => `rpzPrimary({"${c.primary.address}:${c.primary.port}"}, "${z}", { refresh=60${tsig} })`).join('\n')}
`;
}

export function knotResolverConfig(c: ResolverConfigInput, fileOf: (zone: string) => string): string {
  return `-- Mamori policy zones — add to kresd.conf (Knot Resolver 5.6 reads RPZ from files only;
-- Mamori writes them: mamori dns export-zone).
${c.zones.map((z) => `policy.add(policy.rpz(policy.DENY, '${fileOf(z)}', true))`).join('\n')}
`;
}

/** The zone as a master file (RFC 1035 §5), for resolvers that read RPZ from files. */
export function masterFile(zone: RpzZone): string {
  const lines = [
    `$ORIGIN ${zone.origin}.`,
    '$TTL 60',
    `@ IN SOA localhost. hostmaster.${zone.origin}. ${zone.serial} 60 30 604800 60`,
    '@ IN NS localhost.',
    ...zone
      .list()
      .map((r) =>
        r.type === 'CNAME'
          ? `${r.name}. IN CNAME ${r.data === '.' ? '.' : r.data.endsWith('.') ? r.data : `${r.data}.`}`
          : `${r.name}. IN ${r.type} ${r.data}`,
      ),
  ];
  return `${lines.join('\n')}\n`;
}
