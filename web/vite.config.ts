import { defineConfig } from 'vite';
import preact from '@preact/preset-vite';

// Everything is bundled into dist/ (no CDN): the daemon serves dist/ at / (server.console_dir,
// or web/dist found above the binary). `npm run dev` proxies the API to a daemon on :8080.
export default defineConfig({
  plugins: [preact()],
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: false },
  server: { proxy: { '/api': 'http://127.0.0.1:8080' } },
});
