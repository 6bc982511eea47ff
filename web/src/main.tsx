import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './app';
import { loadAppConfig } from './app-config';
import { NotificationsProvider } from './notifications';
import { SessionProvider } from './session';
import './styles.css';

void loadAppConfig().then(() =>
  createRoot(document.getElementById('root')!).render(
    <StrictMode>
      <SessionProvider>
        <NotificationsProvider>
          <App />
        </NotificationsProvider>
      </SessionProvider>
    </StrictMode>,
  ),
);
