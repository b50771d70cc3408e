// The web panel's build: React + TypeScript into web/dist, served by `gantry up` at `/` (api/web/static.ts).
// Hashed file names under assets/ are what lets the server cache them for a year (immutable).
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

export default defineConfig({
  root: import.meta.dirname,
  base: '/',
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsDir: 'assets',
    target: 'es2022',
    sourcemap: false,
    // The console (xterm) and the editor (CodeMirror) are loaded with the pages that use them.
    chunkSizeWarningLimit: 700,
  },
  server: {
    proxy: {
      '/api': 'http://127.0.0.1:8080',
      '/apis': 'http://127.0.0.1:8080',
      '/k8s': 'http://127.0.0.1:8080',
      '/ws': { target: 'ws://127.0.0.1:8080', ws: true },
    },
  },
});
