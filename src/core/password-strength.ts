/**
 * How guessable a password is, by zxcvbn-ts (dictionaries of common passwords,
 * names and words, keyboard patterns, repeats, sequences, dates). A password
 * it scores below 3 of 4 ("safely unguessable against an online attack that
 * is throttled") is refused with its reason, in both languages where it has one.
 */
import { zxcvbn, zxcvbnOptions } from '@zxcvbn-ts/core';
import * as common from '@zxcvbn-ts/language-common';
import * as en from '@zxcvbn-ts/language-en';

export const MIN_PASSWORD_SCORE = 3;

let configured = false;
function configure(): void {
  if (configured) return;
  zxcvbnOptions.setOptions({
    dictionary: { ...common.dictionary, ...en.dictionary },
    graphs: common.adjacencyGraphs,
    translations: en.translations,
  });
  configured = true;
}

/** Undefined when strong enough; otherwise why not, in English (the estimator's own words) and Japanese. */
export function passwordWeakness(password: string, userInputs: string[] = []): { en: string; ja: string } | undefined {
  configure();
  const r = zxcvbn(password, userInputs);
  if (r.score >= MIN_PASSWORD_SCORE) return undefined;
  const said = [r.feedback.warning, ...r.feedback.suggestions].filter((x): x is string => !!x).join(' ');
  return {
    en: `the password is too easy to guess (strength ${r.score} of 4, at least ${MIN_PASSWORD_SCORE} needed)${said ? `: ${said}` : ''}`,
    ja: `パスワードが推測されやすすぎます（強度 ${r.score}/4、${MIN_PASSWORD_SCORE} 以上が必要）。よく使われる語・繰り返し・並び・名前を避け、長くしてください`,
  };
}
