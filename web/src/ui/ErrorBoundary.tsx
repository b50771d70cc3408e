// A page that throws while rendering shows its error and a way back, never a blank screen.
import { Component, type ReactNode } from 'react';
import { t } from '../i18n/index.ts';

export class ErrorBoundary extends Component<{ children: ReactNode; resetKey: string }, { error: Error | undefined; key: string }> {
  override state: { error: Error | undefined; key: string } = { error: undefined, key: this.props.resetKey };

  static getDerivedStateFromError(error: Error) {
    return { error };
  }

  static getDerivedStateFromProps(props: { resetKey: string }, state: { error: Error | undefined; key: string }) {
    // Navigating elsewhere clears the error: the next page renders afresh.
    return props.resetKey !== state.key ? { error: undefined, key: props.resetKey } : null;
  }

  override render() {
    if (!this.state.error) return this.props.children;
    return (
      <div className="error-box" role="alert">
        <span>{t('app.crashed', { message: this.state.error.message })}</span>
        <button type="button" className="btn" onClick={() => location.reload()}>
          {t('app.reload')}
        </button>
      </div>
    );
  }
}
