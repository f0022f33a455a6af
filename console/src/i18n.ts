/** Japanese by default, English one click away; the choice is kept in this browser. */
import { createI18n } from 'vue-i18n';
import en from './locales/en.json';
import ja from './locales/ja.json';

export type Lang = 'ja' | 'en';
const KEY = 'mamori.lang';

function initial(): Lang {
  return localStorage.getItem(KEY) === 'en' ? 'en' : 'ja';
}

export const i18n = createI18n({
  legacy: false,
  locale: initial(),
  fallbackLocale: 'ja',
  messages: { ja, en },
  missingWarn: false,
  fallbackWarn: false,
});

export function setLang(lang: Lang): void {
  i18n.global.locale.value = lang;
  localStorage.setItem(KEY, lang);
  document.documentElement.lang = lang;
}

export function currentLang(): Lang {
  return i18n.global.locale.value as Lang;
}

document.documentElement.lang = initial();

/** A text the server gives in both languages, in the console's language. */
export function pickText(t: { ja: string; en: string } | undefined): string {
  return t ? t[currentLang()] : '';
}

/** A time in the console's language and the browser's time zone. */
export function formatTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleString(currentLang() === 'ja' ? 'ja-JP' : 'en-GB', { hour12: false });
}

export function formatNumber(n: number, digits = 0): string {
  return n.toLocaleString(currentLang() === 'ja' ? 'ja-JP' : 'en-GB', { maximumFractionDigits: digits });
}
