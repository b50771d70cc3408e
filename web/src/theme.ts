// Dark and light themes: CSS variables under [data-theme]; "system" follows the OS setting.
export type ThemeChoice = 'system' | 'dark' | 'light';
const KEY = 'gantry.theme';

export function storedTheme(): ThemeChoice {
  const v = localStorage.getItem(KEY);
  return v === 'dark' || v === 'light' ? v : 'system';
}

export function effectiveTheme(choice: ThemeChoice): 'dark' | 'light' {
  if (choice !== 'system') return choice;
  return window.matchMedia('(prefers-color-scheme: light)').matches ? 'light' : 'dark';
}

export function applyTheme(choice: ThemeChoice): void {
  if (choice === 'system') localStorage.removeItem(KEY);
  else localStorage.setItem(KEY, choice);
  document.documentElement.dataset.theme = effectiveTheme(choice);
  for (const fn of themeListeners) fn();
}

const themeListeners = new Set<() => void>();
export function onThemeChange(fn: () => void): () => void {
  themeListeners.add(fn);
  return () => themeListeners.delete(fn);
}

window.matchMedia('(prefers-color-scheme: light)').addEventListener('change', () => {
  if (storedTheme() === 'system') applyTheme('system');
});
