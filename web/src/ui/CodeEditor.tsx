// CodeMirror 6 with the language of the file (or YAML for resources), following the theme.
import { useEffect, useRef } from 'react';
import { EditorView, basicSetup } from 'codemirror';
import { EditorState, Compartment, type Extension } from '@codemirror/state';
import { keymap } from '@codemirror/view';
import { indentWithTab } from '@codemirror/commands';
import { StreamLanguage } from '@codemirror/language';
import { json } from '@codemirror/lang-json';
import { yaml } from '@codemirror/lang-yaml';
import { javascript } from '@codemirror/lang-javascript';
import { properties } from '@codemirror/legacy-modes/mode/properties';
import { toml } from '@codemirror/legacy-modes/mode/toml';
import { shell } from '@codemirror/legacy-modes/mode/shell';
import { xml } from '@codemirror/legacy-modes/mode/xml';
import { oneDark } from '@codemirror/theme-one-dark';
import type { EditorLanguage } from '../lib/paths.ts';
import { onThemeChange } from '../theme.ts';

function language(lang: EditorLanguage): Extension {
  switch (lang) {
    case 'json':
      return json();
    case 'yaml':
      return yaml();
    case 'javascript':
      return javascript();
    case 'properties':
      return StreamLanguage.define(properties);
    case 'toml':
      return StreamLanguage.define(toml);
    case 'shell':
      return StreamLanguage.define(shell);
    case 'xml':
      return StreamLanguage.define(xml);
    default:
      return [];
  }
}

const dark = () => document.documentElement.dataset.theme !== 'light';

export function CodeEditor({ value, onChange, lang, label, readOnly, onSave }: { value: string; onChange?: (v: string) => void; lang: EditorLanguage; label: string; readOnly?: boolean; onSave?: () => void }) {
  const box = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView | undefined>(undefined);
  const onChangeRef = useRef(onChange);
  onChangeRef.current = onChange;
  const onSaveRef = useRef(onSave);
  onSaveRef.current = onSave;

  useEffect(() => {
    const theme = new Compartment();
    const v = new EditorView({
      parent: box.current!,
      state: EditorState.create({
        doc: value,
        extensions: [
          basicSetup,
          keymap.of([indentWithTab, { key: 'Mod-s', preventDefault: true, run: () => (onSaveRef.current?.(), true) }]),
          language(lang),
          theme.of(dark() ? oneDark : []),
          EditorState.readOnly.of(!!readOnly),
          EditorView.contentAttributes.of({ 'aria-label': label }),
          EditorView.updateListener.of((u) => {
            if (u.docChanged) onChangeRef.current?.(u.state.doc.toString());
          }),
        ],
      }),
    });
    view.current = v;
    // A read-only document still scrolls: keyboard users reach the scroller itself.
    v.scrollDOM.tabIndex = 0;
    v.scrollDOM.setAttribute('aria-label', label);
    const off = onThemeChange(() => v.dispatch({ effects: theme.reconfigure(dark() ? oneDark : []) }));
    return () => {
      off();
      v.destroy();
    };
    // The document is set once per mount; the parent remounts (key) for another file.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [lang, readOnly, label]);

  return <div className="code-editor" ref={box} data-testid="code-editor" />;
}
