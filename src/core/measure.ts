/**
 * The measure declaration: the one place where a countermeasure says on which
 * legal basis it runs, for which purpose, which data it touches, how long it
 * keeps each item and what it may produce. The core grants capabilities from
 * it, the retention job deletes by it, and the terms, public notice and
 * compliance report are generated from it — so what is disclosed is what runs.
 */
import { z } from 'zod';
import { DURATION_PATTERN, parseDuration } from './duration.js';
import {
  DATA_ITEMS,
  DATA_ITEM_IDS,
  HOLD_IDS,
  LEGAL_BASIS_IDS,
  OUTPUT_IDS,
  type DataItem,
  type Hold,
  type LegalBasis,
  type Output,
  type Text,
} from './vocabulary.js';
import { MamoriError } from './errors.js';

/** The longest retention any declaration may state; longer needs a new legal review, not a config edit. */
export const MAX_RETENTION_SECONDS = parseDuration('400d');

const text = z.strictObject({
  ja: z.string().trim().min(1, 'Japanese text is required (it is the primary text)'),
  en: z.string().trim().min(1, 'English text is required'),
});
const duration = z.string().regex(DURATION_PATTERN, 'a duration such as "24h" or "14d"');

const declarationSchema = z.strictObject({
  id: z.string().regex(/^[a-z][a-z0-9-]{1,40}$/, 'a lower-case id such as "cc-detection"'),
  code: z.string().regex(/^M[0-9]{1,2}$/, 'a short code such as "M1"'),
  title: text,
  purpose: text,
  description: text,
  bases: z.array(z.strictObject({ basis: z.enum(LEGAL_BASIS_IDS), scope: text })).min(1, 'at least one legal basis'),
  dataItems: z
    .array(
      z.strictObject({
        item: z.enum(DATA_ITEM_IDS),
        retention: duration,
        use: text,
        /** Why some of the item's rows outlive the retention (src/core/vocabulary.ts HOLDS); the retention job applies it. */
        keptWhile: z.array(z.enum(HOLD_IDS)).optional(),
      }),
    )
    .min(1, 'at least one data item'),
  outputs: z.array(z.enum(OUTPUT_IDS)),
  identifiesSubscribers: z.boolean(),
  consentTerms: z.strictObject({ detection: text, timing: text, optOut: text }).optional(),
  maxActionDuration: duration.optional(),
  conditions: z.array(text).min(1, 'state the conditions the source documents attach to this measure'),
  source: text,
});

export type MeasureDeclarationInput = z.input<typeof declarationSchema>;

export interface DeclaredDataItem {
  readonly item: DataItem;
  readonly retentionSeconds: number;
  readonly retention: string;
  readonly use: Text;
  /** Conditions under which rows holding the item are kept past `retention`. */
  readonly keptWhile: readonly Hold[];
}

export interface MeasureDeclaration {
  readonly id: string;
  readonly code: string;
  readonly title: Text;
  readonly purpose: Text;
  readonly description: Text;
  readonly bases: ReadonlyArray<{ readonly basis: LegalBasis; readonly scope: Text }>;
  readonly dataItems: ReadonlyArray<DeclaredDataItem>;
  readonly outputs: ReadonlyArray<Output>;
  readonly identifiesSubscribers: boolean;
  readonly consentTerms?: { readonly detection: Text; readonly timing: Text; readonly optOut: Text };
  readonly maxActionSeconds?: number;
  readonly conditions: ReadonlyArray<Text>;
  readonly source: Text;
}

export class MeasureDeclarationError extends MamoriError {
  static override readonly code = 'declaration-invalid';
  static override readonly status = 500;
  constructor(
    readonly measure: string,
    readonly problems: string[],
  ) {
    super(`measure declaration "${measure}" is not valid:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

/** Rules that a well-typed declaration can still break: each is a legal contradiction. */
function contradictions(d: z.output<typeof declarationSchema>): string[] {
  const problems: string[] = [];
  const bases = new Set(d.bases.map((b) => b.basis));
  const items = new Set(d.dataItems.map((i) => i.item));
  const onlyNotSecret = bases.size === 1 && bases.has('not-secret');

  const seen = new Set<string>();
  for (const { item, retention, keptWhile = [] } of d.dataItems) {
    if (seen.has(item)) problems.push(`dataItems: "${item}" is declared twice`);
    if (new Set(keptWhile).size !== keptWhile.length) problems.push(`dataItems.${item}.keptWhile: a condition is listed twice`);
    // A hold must rest on something the measure does: a choice it offers, an action it takes, a case it opens.
    if (keptWhile.includes('choice-in-force') && !d.consentTerms) {
      problems.push(`dataItems.${item}.keptWhile: "choice-in-force" needs a consent-based measure (a setting subscribers change)`);
    }
    if (keptWhile.includes('action-in-force') && !d.maxActionDuration) {
      problems.push(`dataItems.${item}.keptWhile: "action-in-force" needs maxActionDuration (the action's longest duration)`);
    }
    if (keptWhile.includes('case-open') && !d.outputs.includes('cases')) {
      problems.push(`dataItems.${item}.keptWhile: "case-open" needs the output "cases"`);
    }
    seen.add(item);
    if (parseDuration(retention) > MAX_RETENTION_SECONDS) {
      problems.push(`dataItems.${item}.retention: "${retention}" exceeds the maximum of 400d`);
    }
    if (onlyNotSecret && DATA_ITEMS[item].secret) {
      problems.push(`dataItems: "${item}" is secret of communications and cannot be touched on the basis "not-secret" alone`);
    }
  }
  if (new Set(d.outputs).size !== d.outputs.length) problems.push('outputs: an output is listed twice');
  if (onlyNotSecret && d.identifiesSubscribers) {
    problems.push('identifiesSubscribers: identifying a subscriber uses secret data and cannot rest on the basis "not-secret" alone');
  }
  if (d.identifiesSubscribers && !items.has('subscriber.id')) {
    problems.push('identifiesSubscribers is true but the data item "subscriber.id" is not declared');
  }
  if (!d.identifiesSubscribers && (items.has('subscriber.id') || items.has('subscriber.contact'))) {
    problems.push('subscriber data items are declared but identifiesSubscribers is false');
  }
  if (d.outputs.includes('subscriber-notices') && !(d.identifiesSubscribers && items.has('subscriber.contact'))) {
    problems.push('outputs: "subscriber-notices" needs identifiesSubscribers and the data item "subscriber.contact"');
  }
  const needsConsentText = bases.has('comprehensive-consent') || bases.has('consent');
  if (needsConsentText && !d.consentTerms) {
    problems.push('consentTerms: a consent-based measure must state what is detected, when, and how the subscriber changes the setting');
  }
  if (!needsConsentText && d.consentTerms) {
    problems.push('consentTerms: given, but no basis is consent-based');
  }
  const temporary = bases.has('emergency') || d.outputs.includes('auth-suspensions') || d.outputs.includes('traffic-blocks');
  if (temporary && !d.maxActionDuration) {
    problems.push('maxActionDuration: blocking and suspension must be temporary; state the maximum duration');
  }
  return problems;
}

/** Validates a declaration; throws MeasureDeclarationError listing every problem at once. */
export function defineMeasure(input: MeasureDeclarationInput): MeasureDeclaration {
  const id = typeof (input as { id?: unknown })?.id === 'string' ? (input as { id: string }).id : '(no id)';
  const parsed = declarationSchema.safeParse(input);
  if (!parsed.success) {
    throw new MeasureDeclarationError(
      id,
      parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`),
    );
  }
  const d = parsed.data;
  const problems = contradictions(d);
  if (problems.length > 0) throw new MeasureDeclarationError(d.id, problems);
  return Object.freeze({
    id: d.id,
    code: d.code,
    title: d.title,
    purpose: d.purpose,
    description: d.description,
    bases: d.bases,
    dataItems: d.dataItems.map((i) => ({
      item: i.item,
      retention: i.retention,
      retentionSeconds: parseDuration(i.retention),
      use: i.use,
      keptWhile: i.keptWhile ?? [],
    })),
    outputs: d.outputs,
    identifiesSubscribers: d.identifiesSubscribers,
    ...(d.consentTerms ? { consentTerms: d.consentTerms } : {}),
    ...(d.maxActionDuration ? { maxActionSeconds: parseDuration(d.maxActionDuration) } : {}),
    conditions: d.conditions,
    source: d.source,
  });
}

export function declares(d: MeasureDeclaration, item: DataItem): boolean {
  return d.dataItems.some((i) => i.item === item);
}

/** Whether the declaration keeps `item` past its retention while `hold` lasts. */
export function keeps(d: MeasureDeclaration, item: DataItem, hold: Hold): boolean {
  return d.dataItems.some((i) => i.item === item && i.keptWhile.includes(hold));
}

export function retentionOf(d: MeasureDeclaration, item: DataItem): number | undefined {
  return d.dataItems.find((i) => i.item === item)?.retentionSeconds;
}
