// The console's screen: xterm.js (ANSI colours, scrollback, selection), sized to its box. Output
// goes through a ConsoleFeed so it is written once per frame however fast lines arrive.
import { forwardRef, useEffect, useImperativeHandle, useRef } from 'react';
import { Terminal as Xterm } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';
import '@xterm/xterm/css/xterm.css';
import { ConsoleFeed } from '../lib/console-feed.ts';
import { onThemeChange } from '../theme.ts';

export interface TerminalHandle {
  feed: ConsoleFeed;
  clear(): void;
}

const THEMES = {
  dark: { background: '#0b0f17', foreground: '#d8dee9', cursor: '#d8dee9', selectionBackground: '#3b4252' },
  light: { background: '#fbfbfd', foreground: '#1f2430', cursor: '#1f2430', selectionBackground: '#c8d3f5', yellow: '#8a6100' },
};

const currentTheme = () => (document.documentElement.dataset.theme === 'light' ? THEMES.light : THEMES.dark);

export const Terminal = forwardRef<TerminalHandle, { label: string; scrollback?: number }>(function Terminal({ label, scrollback = 5000 }, ref) {
  const box = useRef<HTMLDivElement>(null);
  const term = useRef<Xterm | undefined>(undefined);
  const feed = useRef<ConsoleFeed | undefined>(undefined);
  if (!feed.current) {
    feed.current = new ConsoleFeed({ write: (d) => term.current?.write(d) }, (fn) => requestAnimationFrame(fn));
  }

  useImperativeHandle(ref, () => ({ feed: feed.current!, clear: () => term.current?.reset() }), []);

  useEffect(() => {
    const x = new Xterm({ convertEol: false, disableStdin: true, scrollback, fontSize: 13, fontFamily: 'ui-monospace, SFMono-Regular, Menlo, Consolas, monospace', theme: currentTheme(), screenReaderMode: false, cursorInactiveStyle: 'none' });
    const fit = new FitAddon();
    x.loadAddon(fit);
    x.open(box.current!);
    x.textarea?.setAttribute('aria-label', label);
    term.current = x;
    const resize = () => {
      try {
        fit.fit();
      } catch {
        // hidden (another tab shown): fits again when visible
      }
    };
    resize();
    const ro = new ResizeObserver(resize);
    ro.observe(box.current!);
    const offTheme = onThemeChange(() => {
      x.options.theme = currentTheme();
    });
    return () => {
      ro.disconnect();
      offTheme();
      x.dispose();
      term.current = undefined;
    };
  }, [label, scrollback]);

  return <div className="terminal" ref={box} role="log" aria-label={label} data-testid="terminal" />;
});
