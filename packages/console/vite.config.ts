import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

/**
 * The console is served by the server at /console/ from the server package's console-dist
 * folder: hashed file names under assets/ (cached for a year), no inline script or style
 * (the page's Content-Security-Policy allows none), no source maps shipped.
 */
export default defineConfig({
  base: '/console/',
  plugins: [react()],
  build: {
    outDir: fileURLToPath(new URL('../server/console-dist/', import.meta.url)),
    emptyOutDir: true,
    assetsInlineLimit: 0,
    sourcemap: false,
    modulePreload: { polyfill: false },
    target: 'es2022',
    reportCompressedSize: false,
    rollupOptions: {
      // The SDK's modules have no side effects on import: the admin view's chunk takes only the
      // error types it uses, and the client itself stays in the demo workspace's chunk.
      treeshake: { moduleSideEffects: (id: string) => !/[\\/]packages[\\/](client|react)[\\/]dist[\\/]/.test(id) },
    },
  },
});
