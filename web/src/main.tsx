import { createRoot } from 'react-dom/client';
import { App } from './app.tsx';
import { AppProvider, createServices } from './app-context.tsx';
import { setLocale } from './i18n/index.ts';
import { applyTheme, storedTheme } from './theme.ts';
import './styles.css';

setLocale(navigator.language || 'en');
applyTheme(storedTheme());
const services = createServices();
createRoot(document.getElementById('root')!).render(
  <AppProvider services={services}>
    <App />
  </AppProvider>,
);
