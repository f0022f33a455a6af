/**
 * A last line of defence: references that go into the audit log and the
 * application log must name things (user:alice, dataset:flows, case:42), never
 * carry secret data. Anything that looks like an address or a host name is
 * refused here, so a careless caller fails loudly in tests instead of leaking.
 */
const IPV4 = /(?:^|[^0-9.])(?:\d{1,3}\.){3}\d{1,3}(?:$|[^0-9.])/;
const IPV6 = /(?:^|[^0-9a-f:])[0-9a-f]{0,4}(?::[0-9a-f]{0,4}){2,7}(?:$|[^0-9a-f:])/i;
const FQDN = /(?:^|[^a-z0-9-])(?:[a-z0-9-]{1,63}\.){2,}[a-z]{2,63}\.?(?:$|[^a-z0-9-])/i;

export function looksLikeSecretData(value: string): boolean {
  return IPV4.test(value) || IPV6.test(value) || FQDN.test(value);
}

export function assertNoSecretData(field: string, value: string | null | undefined): void {
  if (value != null && looksLikeSecretData(value)) {
    throw new TypeError(`${field} looks like it carries an address or host name; reference the record by id instead`);
  }
}

const IPV4_G = /(?<![0-9.])(?:\d{1,3}\.){3}\d{1,3}(?![0-9.])/g;
const IPV6_G = /(?<![0-9a-f:])[0-9a-f]{0,4}(?::[0-9a-f]{0,4}){2,7}(?![0-9a-f:])/gi;
const FQDN_G = /(?<![a-z0-9-])(?:[a-z0-9-]{1,63}\.){2,}[a-z]{2,63}\.?(?![a-z0-9-])/gi;

/** Free text (an error's message) with anything that looks like an address or a host name replaced. */
export function maskSecretData(text: string): string {
  return text
    .replace(IPV4_G, '[address]')
    .replace(IPV6_G, (m) => (m.includes('::') || m.split(':').length > 3 ? '[address]' : m))
    .replace(FQDN_G, '[name]');
}
