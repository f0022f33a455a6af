/** One entry point for the CLI and the API: render a disclosure with the facts it needs. */
import type { CoreInstance as Mamori } from '../core/instance.js';
import type { MeasureRegistry } from '../core/registry.js';
import { renderNotice, renderReport, renderTerms, type DisclosureFormat, type Lang, type ReportFacts } from './render.js';

export async function gatherReportFacts(mamori: Mamori): Promise<ReportFacts> {
  const verified = await mamori.audit.verify();
  return {
    generatedAt: new Date().toISOString(),
    auditHead: await mamori.audit.head(),
    auditVerified: {
      ok: verified.ok,
      checked: verified.checked,
      ...(verified.problems[0] ? { firstProblem: verified.problems[0].problem } : {}),
    },
    counts: await mamori.audit.countsByMeasure(),
  };
}

/** Terms and notice need only the declarations; the report also reads the audit log. */
export async function renderDisclosure(registry: MeasureRegistry, format: DisclosureFormat, lang: Lang, mamori?: Mamori): Promise<string> {
  const statuses = registry.list();
  const at = new Date().toISOString();
  if (format === 'terms') return renderTerms(statuses, lang, at);
  if (format === 'notice') return renderNotice(statuses, lang, at);
  if (!mamori) throw new Error('the compliance report needs the data directory (audit log)');
  return renderReport(statuses, lang, await gatherReportFacts(mamori));
}
