/**
 * `mamori credential-misuse …`: M4's commands for the NOC and the support desk, against the running server
 * (its routes.ts): suspensions and findings, and lifting a suspension. Account IDs are shown only to roles
 * that may read cases, as in the API; the server audits each read that shows them.
 */
import type { MeasureCli } from '../../core/cli.js';

const ID = 'credential-misuse';

interface Row {
  account?: string;
  case_id?: string;
  detector: string;
  [k: string]: unknown;
}

export const credentialMisuseCli: MeasureCli = (program, { request }) => {
  const m4 = program.command('credential-misuse').description('M4: suspending misused IDs (asks the running server; MAMORI_TOKEN)');
  const out = (line: string) => process.stdout.write(`${line}\n`);

  m4.command('suspensions')
    .description('suspensions and findings (account IDs only for roles that may read cases)')
    .action(async (_o, cmd) => {
      const r = await request<{ suspensions: Row[]; findings: Row[]; identified: boolean }>(cmd, ID, 'GET', '/suspensions');
      for (const s of r.suspensions) {
        const state = s.lifted_at ? `lifted ${String(s.lifted_at)} by ${String(s.lifted_by)}` : `until ${String(s.until)}`;
        const caseId = s.case_id ? `\t${s.case_id}` : '';
        out(`suspension\t${s.account ?? '(hidden)'}\t${s.detector}\tsince ${String(s.since)}\t${state}${caseId}`);
      }
      for (const f of r.findings) {
        const caseId = f.case_id ? `\t${f.case_id}` : '';
        out(`finding\t${f.account ?? '(hidden)'}\t${f.detector}\t${String(f.at)}\t${String(f.action)}${caseId}`);
      }
      if (!r.identified) out('(account IDs and cases are shown only to roles that may read cases)');
    });
  m4.command('lift')
    .argument('<account>', 'the suspended ID')
    .requiredOption('--reason <text>', 'why (kept in the audit log)')
    .description('end a suspension before the password change (e.g. the subscriber was reached by phone)')
    .action(async (account: string, o: { reason: string }, cmd) => {
      const r = await request<{ lifted: boolean }>(cmd, ID, 'POST', '/suspensions/lift', { account, reason: o.reason });
      out(r.lifted ? `${account}: suspension lifted` : `${account}: no suspension in force`);
    });
  return m4;
};
