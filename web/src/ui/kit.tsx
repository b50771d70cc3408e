// The panel's building blocks. Native elements first (button, dialog, form controls) so keyboard use
// and screen readers work without extra code; every label comes from the catalogue.
import { useEffect, useId, useRef, useState, type ReactNode, type ButtonHTMLAttributes, type InputHTMLAttributes, type SelectHTMLAttributes, type TextareaHTMLAttributes } from 'react';
import { t } from '../i18n/index.ts';
import { toneOf } from '../lib/phase.ts';
import { tk } from '../i18n/index.ts';

type Variant = 'primary' | 'default' | 'danger' | 'ghost';

export function Button({ variant = 'default', busy, children, className, ...rest }: ButtonHTMLAttributes<HTMLButtonElement> & { variant?: Variant; busy?: boolean }) {
  return (
    <button type="button" {...rest} className={`btn btn-${variant} ${className ?? ''}`} disabled={rest.disabled || busy} aria-busy={busy || undefined}>
      {busy ? <span className="spinner" aria-hidden="true" /> : null}
      {children}
    </button>
  );
}

export function Field({ label, hint, error, children, id }: { label: string; hint?: ReactNode; error?: string; children: (id: string, describedBy?: string) => ReactNode; id?: string }) {
  const auto = useId();
  const fid = id ?? auto;
  const hid = hint || error ? `${fid}-hint` : undefined;
  return (
    <div className={`field${error ? ' field-error' : ''}`}>
      <label htmlFor={fid}>{label}</label>
      {children(fid, hid)}
      {hint || error ? (
        <div id={hid} className="field-hint">
          {error ?? hint}
        </div>
      ) : null}
    </div>
  );
}

export function Input({ label, hint, error, ...rest }: InputHTMLAttributes<HTMLInputElement> & { label: string; hint?: ReactNode; error?: string }) {
  return <Field label={label} hint={hint} error={error}>{(id, d) => <input id={id} aria-describedby={d} aria-invalid={error ? true : undefined} {...rest} />}</Field>;
}

export function TextArea({ label, hint, ...rest }: TextareaHTMLAttributes<HTMLTextAreaElement> & { label: string; hint?: ReactNode }) {
  return <Field label={label} hint={hint}>{(id, d) => <textarea id={id} aria-describedby={d} {...rest} />}</Field>;
}

export function Select({ label, hint, options, ...rest }: SelectHTMLAttributes<HTMLSelectElement> & { label: string; hint?: ReactNode; options: { value: string; label: string }[] }) {
  return (
    <Field label={label} hint={hint}>
      {(id, d) => (
        <select id={id} aria-describedby={d} {...rest}>
          {options.map((o) => (
            <option key={o.value} value={o.value}>
              {o.label}
            </option>
          ))}
        </select>
      )}
    </Field>
  );
}

export function Check({ label, ...rest }: InputHTMLAttributes<HTMLInputElement> & { label: string }) {
  return (
    <label className="check">
      <input type="checkbox" {...rest} /> <span>{label}</span>
    </label>
  );
}

/** The API's message, as it gave it; role=alert so it is announced. */
export function ErrorBox({ error, onRetry }: { error: unknown; onRetry?: () => void }) {
  if (!error) return null;
  const msg = error instanceof Error ? error.message : String(error);
  return (
    <div className="error-box" role="alert">
      <span>{msg}</span>
      {onRetry ? (
        <Button variant="ghost" onClick={onRetry}>
          {t('common.retry')}
        </Button>
      ) : null}
    </div>
  );
}

export function Spinner({ label }: { label?: string }) {
  return (
    <div className="loading" role="status">
      <span className="spinner" aria-hidden="true" /> {label ?? t('common.loading')}
    </div>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <p className="empty">{children}</p>;
}

export function PhaseBadge({ phase }: { phase: string | null | undefined }) {
  const p = phase ?? 'unknown';
  return <span className={`badge tone-${toneOf(p)}`}>{tk(`phase.${p}`)}</span>;
}

export function Badge({ tone, children }: { tone: 'ok' | 'busy' | 'idle' | 'bad'; children: ReactNode }) {
  return <span className={`badge tone-${tone}`}>{children}</span>;
}

/** A modal dialog on the native <dialog>: focus moves in, Escape closes, the page behind is inert. */
export function Dialog({ title, open, onClose, children, footer, wide }: { title: string; open: boolean; onClose: () => void; children: ReactNode; footer?: ReactNode; wide?: boolean }) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (open && !d.open) d.showModal();
    if (!open && d.open) d.close();
  }, [open]);
  return (
    <dialog ref={ref} className={`dialog${wide ? ' dialog-wide' : ''}`} aria-labelledby={titleId} onClose={onClose} onCancel={(e) => { e.preventDefault(); onClose(); }}>
      {open ? (
        <>
          <header className="dialog-head">
            <h2 id={titleId}>{title}</h2>
            <button type="button" className="icon-btn" aria-label={t('common.close')} onClick={onClose}>
              ×
            </button>
          </header>
          <div className="dialog-body">{children}</div>
          {footer ? <footer className="dialog-foot">{footer}</footer> : null}
        </>
      ) : null}
    </dialog>
  );
}

/** "Are you sure?" with the action's own words; the error of a failed attempt stays in the dialog. */
export function Confirm({ open, title, message, confirmLabel, onConfirm, onClose, danger = true }: { open: boolean; title: string; message: ReactNode; confirmLabel: string; onConfirm: () => Promise<unknown>; onClose: () => void; danger?: boolean }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  useEffect(() => {
    if (open) setError(undefined);
  }, [open]);
  return (
    <Dialog
      open={open}
      title={title}
      onClose={onClose}
      footer={
        <>
          <Button onClick={onClose}>{t('common.cancel')}</Button>
          <Button
            variant={danger ? 'danger' : 'primary'}
            busy={busy}
            onClick={async () => {
              setBusy(true);
              try {
                await onConfirm();
                onClose();
              } catch (err) {
                setError(err);
              } finally {
                setBusy(false);
              }
            }}
          >
            {confirmLabel}
          </Button>
        </>
      }
    >
      <div>{message}</div>
      <ErrorBox error={error} />
    </Dialog>
  );
}

/**
 * A dialog around a form: Cancel and a primary submit button; the submit runs `onSubmit` with the busy
 * state and keeps its error (the API's message) in the dialog, which stays open until it succeeds.
 */
export function FormDialog({ open, title, onClose, onSubmit, submitLabel, wide, grid, children }: { open: boolean; title: string; onClose: () => void; onSubmit: () => Promise<unknown>; submitLabel?: string; wide?: boolean; grid?: boolean; children: ReactNode }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const formId = useId();
  useEffect(() => {
    if (open) setError(undefined);
  }, [open]);
  const submit = async () => {
    setBusy(true);
    setError(undefined);
    try {
      await onSubmit();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Dialog
      open={open}
      wide={wide}
      title={title}
      onClose={onClose}
      footer={
        <>
          <Button onClick={onClose}>{t('common.cancel')}</Button>
          <Button type="submit" form={formId} variant="primary" busy={busy}>
            {submitLabel ?? t('common.save')}
          </Button>
        </>
      }
    >
      <form id={formId} className={grid ? 'form-grid' : undefined} onSubmit={(e) => { e.preventDefault(); void submit(); }}>
        {children}
        <div className="span-all">
          <ErrorBox error={error} />
        </div>
      </form>
    </Dialog>
  );
}

/** Starts a browser download of `href` (a same-origin URL or a blob: URL) under `name`. */
export function downloadLink(href: string, name: string): void {
  const a = document.createElement('a');
  a.href = href;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
}

export function CopyButton({ text, label }: { text: string; label?: string }) {
  const [done, setDone] = useState(false);
  return (
    <Button
      variant="ghost"
      onClick={async () => {
        try {
          await navigator.clipboard.writeText(text);
        } catch {
          // Clipboard refused (insecure origin): select-and-copy stays possible in the field shown.
        }
        setDone(true);
        setTimeout(() => setDone(false), 1500);
      }}
    >
      {done ? t('common.copied') : (label ?? t('common.copy'))}
    </Button>
  );
}

export interface TabDef {
  key: string;
  label: string;
}

/** ARIA tabs: arrow keys move between them, the panel is labelled by its tab. */
export function Tabs({ tabs, active, onChange, label }: { tabs: TabDef[]; active: string; onChange: (key: string) => void; label: string }) {
  const refs = useRef<(HTMLButtonElement | null)[]>([]);
  const idx = Math.max(0, tabs.findIndex((x) => x.key === active));
  const move = (i: number) => {
    const n = (i + tabs.length) % tabs.length;
    onChange(tabs[n]!.key);
    refs.current[n]?.focus();
  };
  return (
    <div role="tablist" aria-label={label} className="tabs">
      {tabs.map((tab, i) => (
        <button
          key={tab.key}
          ref={(el) => {
            refs.current[i] = el;
          }}
          role="tab"
          type="button"
          id={`tab-${tab.key}`}
          aria-selected={i === idx}
          aria-controls={`panel-${tab.key}`}
          tabIndex={i === idx ? 0 : -1}
          className={i === idx ? 'tab active' : 'tab'}
          onClick={() => onChange(tab.key)}
          onKeyDown={(e) => {
            if (e.key === 'ArrowRight') move(i + 1);
            else if (e.key === 'ArrowLeft') move(i - 1);
            else if (e.key === 'Home') move(0);
            else if (e.key === 'End') move(tabs.length - 1);
          }}
        >
          {tab.label}
        </button>
      ))}
    </div>
  );
}

export function TabPanel({ id, children }: { id: string; children: ReactNode }) {
  return (
    <div role="tabpanel" id={`panel-${id}`} aria-labelledby={`tab-${id}`} className="tab-panel">
      {children}
    </div>
  );
}

/**
 * A loaded list as a table: the load's error (with retry), a spinner until the first answer, the empty
 * text, else the header row (an optional selection column, the columns, an unlabelled actions column)
 * and the rows the caller renders.
 */
export function ListTable({ loaded, error, empty, columns, select, actions = true, className, children }: { loaded: { data?: unknown[]; error?: Error; reload?: () => Promise<void> }; error?: unknown; empty: string; columns: string[]; select?: boolean; actions?: boolean; className?: string; children: ReactNode }) {
  const count = loaded.data?.length ?? 0;
  return (
    <>
      <ErrorBox error={error ?? loaded.error} onRetry={loaded.error ? loaded.reload : undefined} />
      {!loaded.data && !loaded.error ? <Spinner /> : null}
      {loaded.data && !count ? <Empty>{empty}</Empty> : null}
      {count ? (
        <table className={`table${className ? ` ${className}` : ''}`}>
          <thead>
            <tr>
              {select ? (
                <th scope="col">
                  <span className="sr-only">{t('files.select')}</span>
                </th>
              ) : null}
              {columns.map((c) => (
                <th key={c} scope="col">
                  {c}
                </th>
              ))}
              {actions ? (
                <th scope="col">
                  <span className="sr-only">{t('common.actions')}</span>
                </th>
              ) : null}
            </tr>
          </thead>
          <tbody>{children}</tbody>
        </table>
      ) : null}
    </>
  );
}

export function PageHead({ title, children, sub }: { title: string; children?: ReactNode; sub?: ReactNode }) {
  return (
    <header className="page-head">
      <div>
        <h1>{title}</h1>
        {sub ? <div className="page-sub">{sub}</div> : null}
      </div>
      {children ? <div className="page-actions">{children}</div> : null}
    </header>
  );
}

export function Section({ title, children, actions }: { title: string; children: ReactNode; actions?: ReactNode }) {
  return (
    <section className="card">
      <header className="card-head">
        <h2>{title}</h2>
        {actions ? <div className="card-actions">{actions}</div> : null}
      </header>
      {children}
    </section>
  );
}
