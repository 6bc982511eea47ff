import type { Infra } from '../app.js';
import { AccessTokens } from './access-tokens.js';
import { AuthService } from './auth.service.js';
import { EventService } from './event.service.js';
import { NotificationService } from './notification.service.js';

/** Every service of the app, built once per process from the infrastructure it needs. */
export function createServices(infra: Infra) {
  const { config } = infra;
  const tokens = new AccessTokens(config.auth.jwtSecret, config.auth.tokenTtlSeconds);
  return {
    tokens,
    auth: new AuthService(tokens, config.auth.adminEmails),
    events: new EventService(),
    notifications: new NotificationService(),
  };
}

export type Services = ReturnType<typeof createServices>;
