import { InitialSchema } from './2026-11-26-initial.migration.js';

/** Every migration in order; listed explicitly so the same list runs from sources and from `dist/`. */
export const migrations = [{ name: '2026-11-26-initial', class: InitialSchema }];
