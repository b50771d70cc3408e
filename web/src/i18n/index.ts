// All of the panel's text lives in one catalogue per language (en.ts); components call t('key') and
// never hold sentences themselves. `{name}` in a message is replaced by vars.name.
import { en } from './en.ts';

export type MessageKey = keyof typeof en;
type Catalogue = Record<MessageKey, string>;

const catalogues: Record<string, Catalogue> = { en };
let current: Catalogue = en;
export let locale = 'en';

export function setLocale(lang: string): void {
  const base = lang.toLowerCase().split('-')[0]!;
  current = catalogues[base] ?? en;
  locale = catalogues[base] ? base : 'en';
}

export function t(key: MessageKey, vars?: Record<string, string | number>): string {
  const msg = current[key] ?? en[key] ?? key;
  if (!vars) return msg;
  return msg.replace(/\{(\w+)\}/g, (m, name: string) => (name in vars ? String(vars[name]) : m));
}

/** Keys built at run time (phase names, permission groups) are checked against the catalogue. */
export function tk(key: string, vars?: Record<string, string | number>): string {
  return key in en ? t(key as MessageKey, vars) : key;
}
