import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

// The app is served by the gateway from dist/web (src/http/web-app.route.ts), on the API's own origin.
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/',
  build: {
    outDir: fileURLToPath(new URL('../dist/web', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    // No inline scripts or styles, so the page's CSP can stay at 'self'.
    assetsInlineLimit: 0,
  },
  server: {
    // `npx vite web` during development: the API runs on PORT (4000 by default).
    proxy: { '/graphql': { target: 'http://127.0.0.1:4000', ws: true }, '/app-config.json': 'http://127.0.0.1:4000' },
  },
});
