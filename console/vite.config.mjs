// The operator console's build (scripts/ensure-deps.sh runs it when a source changed): Vue single-file
// components compiled ahead of time (no runtime template compiler, so no eval under the CSP), one
// script and one style sheet per chunk, written to dist/console for the API server (src/api/console.ts).
import { fileURLToPath } from 'node:url';
import vue from '@vitejs/plugin-vue';
import { defineConfig } from 'vite';

const here = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root: here,
  base: '/',
  plugins: [vue()],
  define: {
    // vue-i18n's Composition API only: no legacy API, no devtools hooks in production.
    __VUE_I18N_FULL_INSTALL__: 'true',
    __VUE_I18N_LEGACY_API__: 'false',
    __INTLIFY_PROD_DEVTOOLS__: 'false',
    __INTLIFY_DROP_MESSAGE_COMPILER__: 'false',
  },
  build: {
    outDir: fileURLToPath(new URL('../dist/console', import.meta.url)),
    emptyOutDir: true,
    // No inline script: the module-preload polyfill would otherwise be the only code outside our files.
    modulePreload: { polyfill: false },
    // Assets are files, never data: URLs (the CSP allows only 'self').
    assetsInlineLimit: 0,
    cssCodeSplit: false,
    reportCompressedSize: false,
    chunkSizeWarningLimit: 1024,
    // The build's timing advice is for plugin authors, not for someone starting Mamori.
    rolldownOptions: { checks: { pluginTimings: false } },
  },
  logLevel: 'warn',
});
