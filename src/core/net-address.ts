/**
 * A dual-stack socket (listening on "::") reports IPv4 peers as IPv4-mapped IPv6 addresses (::ffff:a.b.c.d).
 * Everything that compares, allows or looks up a peer's address uses the plain IPv4 form.
 */
export function unmapIPv4(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}
