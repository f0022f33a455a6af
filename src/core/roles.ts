/**
 * Roles and what each may do. Every API route names one permission; a route
 * without one does not start (see api/server.ts), so nothing is open by accident.
 */
/** `aaa` is for machines: the AAA servers (FreeRADIUS rlm_rest) and the customer system's password-change hook. */
export const ROLES = ['admin', 'operator', 'analyst', 'auditor', 'aaa'] as const;
export type Role = (typeof ROLES)[number];

export const PERMISSIONS = {
  /** Own account: who am I, log out, change own password. */
  self: ['admin', 'operator', 'analyst', 'auditor'],
  'measures:read': ['admin', 'operator', 'analyst', 'auditor'],
  'policy:read': ['admin', 'operator', 'analyst', 'auditor'],
  'audit:read': ['admin', 'auditor'],
  'audit:anchor': ['admin', 'auditor'],
  'retention:run': ['admin', 'operator'],
  'users:manage': ['admin'],
  'tokens:manage': ['admin'],
  'metrics:read': ['admin', 'operator'],
  /** Collector status: exporters (routers), counts, errors. No flow contents. */
  'flows:status': ['admin', 'operator', 'analyst'],
  /** Back-fill flows from a capture through the running server (stores flow data for M1, audited). */
  'flows:import': ['admin', 'operator'],
  /** M1's candidates (IP, port, scores, explanations: no subscriber data). */
  'cc:read': ['admin', 'operator', 'analyst', 'auditor'],
  'cc:decide': ['admin', 'analyst'],
  /** Train a model version, run a detection now. */
  'cc:run': ['admin', 'analyst'],
  /** M2: the shared list, recipients (no secrets), what partners sent. */
  'share:read': ['admin', 'operator', 'analyst', 'auditor'],
  /** Approve, reject, revoke entries of the shared list. */
  'share:decide': ['admin', 'analyst'],
  /** Register recipients, record attestations, issue and revoke their credentials. */
  'share:recipients': ['admin'],
  /** Cases name subscribers: the abuse desk only. */
  'cases:read': ['admin', 'analyst'],
  'cases:manage': ['admin', 'analyst'],
  /** Edit the texts sent to subscribers. */
  'notices:templates': ['admin'],
  /** M4's REST endpoints for the AAA: authorize, post-auth, password changed. */
  'aaa:rest': ['aaa'],
  /**
   * M4's suspensions and findings: see and lift. The account IDs and case ids in them follow
   * `cases:read` (the route leaves them out for other roles, and audits the reads that show them).
   */
  'suspensions:read': ['admin', 'operator', 'analyst', 'auditor'],
  'suspensions:manage': ['admin', 'operator', 'analyst'],
  /** M3: the C&C names blocked at the resolvers (threat intelligence, not subscriber data), resolver set-up. */
  'blocklist:read': ['admin', 'operator', 'analyst', 'auditor'],
  /** Import lists, add and withdraw entries. */
  'blocklist:manage': ['admin', 'analyst'],
  /**
   * M3's consent registry: one subscriber's choice and its history, looked up by the ID the caller
   * already holds (support desk, member site through a token); every read is audited. No listing.
   */
  'consent:read': ['admin', 'operator'],
  'consent:manage': ['admin', 'operator'],
  /** M6: attacks, candidates with their evidence, rules (names under attack: no subscriber data). */
  'ddos:read': ['admin', 'operator', 'analyst', 'auditor'],
  /** Approve or reject M6 candidates. */
  'ddos:decide': ['admin', 'operator', 'analyst'],
  /** M7: import third-party reports of infected hosts (file upload, drop directory). */
  'reports:import': ['admin', 'operator', 'analyst'],
  /** M7: sources, imports with their counts, the remediation report (no subscriber data). */
  'reports:read': ['admin', 'operator', 'analyst', 'auditor'],
  'openapi:read': ['admin', 'operator', 'analyst', 'auditor'],
} as const satisfies Record<string, readonly Role[]>;
export type Permission = keyof typeof PERMISSIONS;

export function roleMay(role: Role, permission: Permission): boolean {
  return (PERMISSIONS[permission] as readonly Role[]).includes(role);
}

export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}
