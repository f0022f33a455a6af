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

const dataItemSchema = z.strictObject({
  item: z.enum(DATA_ITEM_IDS),
  retention: duration,
  use: text,
  /** Why some of the item's rows outlive the retention (src/core/vocabulary.ts HOLDS); the retention job applies it. */
  keptWhile: z.array(z.enum(HOLD_IDS)).optional(),
});
const basesSchema = z.array(z.strictObject({ basis: z.enum(LEGAL_BASIS_IDS), scope: text })).min(1, 'at least one legal basis');
const consentTermsSchema = z.strictObject({ detection: text, timing: text, optOut: text });

/**
 * An option of a measure: a further output with its own legal basis, terms clause and conditions, off unless
 * the measure's settings turn it on (`measures.<id>.<setting>.enabled: true`). While off it adds nothing to
 * what the measure is granted or discloses; while on, its bases, items and outputs join the declaration.
 */
const optionSchema = z.strictObject({
  id: z.string().regex(/^[a-z][a-z0-9-]{1,40}$/, 'a lower-case id such as "walled-garden"'),
  setting: z.string().regex(/^[a-zA-Z][a-zA-Z0-9]{0,40}$/, 'the key of the settings object whose "enabled" turns the option on'),
  title: text,
  description: text,
  bases: basesSchema,
  dataItems: z.array(dataItemSchema).optional(),
  outputs: z.array(z.enum(OUTPUT_IDS)).min(1, 'an option adds at least one output'),
  consentTerms: consentTermsSchema.optional(),
  maxActionDuration: duration.optional(),
  conditions: z.array(text).min(1, 'state the conditions of the option'),
  /** What the operator must know before turning it on (e.g. that the source documents do not state its basis). */
  caveat: text.optional(),
});

const declarationSchema = z.strictObject({
  id: z.string().regex(/^[a-z][a-z0-9-]{1,40}$/, 'a lower-case id such as "cc-detection"'),
  code: z.string().regex(/^M[0-9]{1,2}$/, 'a short code such as "M1"'),
  title: text,
  purpose: text,
  description: text,
  bases: basesSchema,
  dataItems: z.array(dataItemSchema).min(1, 'at least one data item'),
  outputs: z.array(z.enum(OUTPUT_IDS)),
  identifiesSubscribers: z.boolean(),
  consentTerms: consentTermsSchema.optional(),
  maxActionDuration: duration.optional(),
  conditions: z.array(text).min(1, 'state the conditions the source documents attach to this measure'),
  source: text,
  options: z.array(optionSchema).optional(),
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

/** A declared option (see optionSchema) and whether the settings turn it on. */
export interface DeclaredOption {
  readonly id: string;
  readonly setting: string;
  readonly title: Text;
  readonly description: Text;
  readonly bases: ReadonlyArray<{ readonly basis: LegalBasis; readonly scope: Text }>;
  readonly dataItems: ReadonlyArray<DeclaredDataItem>;
  readonly outputs: ReadonlyArray<Output>;
  readonly consentTerms?: { readonly detection: Text; readonly timing: Text; readonly optOut: Text };
  readonly maxActionSeconds?: number;
  readonly conditions: ReadonlyArray<Text>;
  readonly caveat?: Text;
  /** On in the settings (only in a declaration from `withOptions`; false in the static one). */
  readonly active: boolean;
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
  /** Its options, each marked active or not; the active ones' bases, items, outputs and conditions are merged above. */
  readonly options: ReadonlyArray<DeclaredOption>;
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
  const optionIds = new Set<string>();
  for (const o of d.options ?? []) {
    const at = `options.${o.id}`;
    if (optionIds.has(o.id)) problems.push(`${at}: declared twice`);
    optionIds.add(o.id);
    for (const out of o.outputs) if (d.outputs.includes(out)) problems.push(`${at}.outputs: "${out}" is already an output of the measure`);
    for (const i of o.dataItems ?? [])
      if (items.has(i.item)) problems.push(`${at}.dataItems: "${i.item}" is already declared by the measure`);
    const consentBased = o.bases.some((b) => b.basis === 'comprehensive-consent' || b.basis === 'consent');
    if (consentBased && !o.consentTerms) problems.push(`${at}.consentTerms: a consent-based option needs its own terms clause`);
    if (!consentBased && o.consentTerms) problems.push(`${at}.consentTerms: given, but no basis of the option is consent-based`);
    if (o.outputs.includes('walled-garden') && !o.maxActionDuration)
      problems.push(`${at}.maxActionDuration: a walled garden must be temporary; state its maximum duration`);
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
    options: (d.options ?? []).map((o): DeclaredOption =>
      Object.freeze({
        id: o.id,
        setting: o.setting,
        title: o.title,
        description: o.description,
        bases: o.bases,
        dataItems: (o.dataItems ?? []).map((i) => ({
          item: i.item,
          retention: i.retention,
          retentionSeconds: parseDuration(i.retention),
          use: i.use,
          keptWhile: i.keptWhile ?? [],
        })),
        outputs: o.outputs,
        ...(o.consentTerms ? { consentTerms: o.consentTerms } : {}),
        ...(o.maxActionDuration ? { maxActionSeconds: parseDuration(o.maxActionDuration) } : {}),
        conditions: o.conditions,
        ...(o.caveat ? { caveat: o.caveat } : {}),
        active: false,
      }),
    ),
  });
}

/**
 * The declaration as the settings make it: each option whose settings object has `enabled: true` is active, and
 * its bases, data items, outputs and conditions join the measure's. What the broker grants and what the terms,
 * notice and report disclose follow from this, so an option that is off is neither granted nor disclosed as running.
 */
export function withOptions(d: MeasureDeclaration, settings: Record<string, unknown> | undefined): MeasureDeclaration {
  if (d.options.length === 0) return d;
  const on = (o: DeclaredOption) => (settings?.[o.setting] as { enabled?: unknown } | undefined)?.enabled === true;
  const options = d.options.map((o) => Object.freeze({ ...o, active: on(o) }));
  const active = options.filter((o) => o.active);
  return Object.freeze({
    ...d,
    bases: [...d.bases, ...active.flatMap((o) => o.bases)],
    dataItems: [...d.dataItems, ...active.flatMap((o) => o.dataItems)],
    outputs: [...d.outputs, ...active.flatMap((o) => o.outputs)],
    conditions: [...d.conditions, ...active.flatMap((o) => o.conditions)],
    options,
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
