// The live console: history replayed on open, ANSI colours, a command line with ↑/↓ history (kept per
// server in this browser), notices when output was throttled or dropped, input refusals shown inline.
import { useEffect, useRef, useState, type FormEvent, type KeyboardEvent } from 'react';
import { useApp } from '../../app-context.tsx';
import { t } from '../../i18n/index.ts';
import type { Server } from '../../api/types.ts';
import { Terminal, type TerminalHandle } from '../../ui/Terminal.tsx';
import { CommandHistory } from '../../lib/console-feed.ts';
import { Button } from '../../ui/kit.tsx';
import { LiveStats } from './LiveStats.tsx';

const HISTORY_LINES = 500;

function loadHistory(id: string): string[] {
  try {
    const v = JSON.parse(localStorage.getItem(`gantry.cmd.${id}`) ?? '[]') as unknown;
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  } catch {
    return [];
  }
}

export function ConsoleTab({ server, canSend }: { server: Server; canSend: boolean }) {
  const { live } = useApp();
  const term = useRef<TerminalHandle>(null);
  // Keyed by uid: a server re-created under the same name starts with an empty history.
  const history = useRef(new CommandHistory(loadHistory(server.uuid)));
  const [input, setInput] = useState('');
  const [notice, setNotice] = useState<string>();

  useEffect(() => {
    const off = live.subscribe(
      server.id,
      ['server_log', 'server_state_update'],
      (m) => {
        const feed = term.current?.feed;
        if (!feed) return;
        if (m.type === 'subscribed') {
          // The history follows this answer: it is the whole picture again.
          if (m.replay) term.current?.clear();
        } else if (m.type === 'server_log') {
          feed.push(String(m.data ?? ''));
        } else if (m.type === 'dropped') {
          feed.notice(t('console.dropped', { n: Number(m.count) || 0 }));
        } else if (m.type === 'server_state_update') {
          feed.notice(t('console.state', { state: String(m.state) }));
        } else if (m.type === 'error') {
          feed.notice(String(m.message));
          setNotice(String(m.message));
        }
      },
      HISTORY_LINES,
    );
    return off;
  }, [live, server.id]);

  const send = (e: FormEvent) => {
    e.preventDefault();
    const cmd = input;
    if (!cmd.trim()) return;
    setNotice(undefined);
    if (!live.sendInput(server.id, cmd)) {
      setNotice(t('console.notConnected'));
      return;
    }
    history.current.add(cmd);
    localStorage.setItem(`gantry.cmd.${server.uuid}`, JSON.stringify(history.current.list()));
    setInput('');
  };

  const onKey = (e: KeyboardEvent<HTMLInputElement>) => {
    if (e.key === 'ArrowUp') {
      e.preventDefault();
      const v = history.current.up();
      if (v !== undefined) setInput(v);
    } else if (e.key === 'ArrowDown') {
      e.preventDefault();
      setInput(history.current.down());
    }
  };

  return (
    <div className="console-layout">
      <div className="console">
        <Terminal ref={term} label={t('console.label', { name: server.name })} />
        <form className="console-input" onSubmit={send}>
          <label htmlFor="console-cmd" className="sr-only">
            {t('console.command')}
          </label>
          <span className="prompt" aria-hidden="true">
            &gt;
          </span>
          <input id="console-cmd" autoComplete="off" spellCheck={false} disabled={!canSend} placeholder={canSend ? t('console.placeholder') : t('console.noPermission')} value={input} onChange={(e) => setInput(e.target.value)} onKeyDown={onKey} />
          <Button type="submit" variant="primary" disabled={!canSend || !input.trim()}>
            {t('console.send')}
          </Button>
        </form>
        {notice ? (
          <p className="console-notice" role="alert">
            {notice}
          </p>
        ) : null}
      </div>
      <LiveStats server={server} />
    </div>
  );
}
