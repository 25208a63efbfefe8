import { defineConfig } from 'vite';

// Built into web/dist and served by the API process at `/` (same origin, so no CORS and one CSP). JSX is compiled by
// Vite's own transformer (the automatic React runtime); the React plugin would only add hot reload for a dev server,
// and the portal is always served built, by the API.
export default defineConfig({
  oxc: { jsx: { runtime: 'automatic', importSource: 'react' } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 1200,
    rolldownOptions: {
      // Libraries mark their modules "use client" for React server components; a browser bundle has no use for it.
      onwarn(warning, warn) {
        if (warning.code !== 'MODULE_LEVEL_DIRECTIVE') warn(warning);
      },
    },
  },
});
