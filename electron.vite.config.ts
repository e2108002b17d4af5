// Build of the three Electron parts. The preload is CommonJS (out/preload/index.cjs): a sandboxed
// window cannot load an ES-module preload. The renderer config is exported on its own too, so
// the end-to-end tests build exactly the same renderer with plain vite.
import { resolve } from 'node:path';
import { defineConfig } from 'electron-vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import type { UserConfig } from 'vite';

const root = import.meta.dirname;
// tests/shell builds the app into a folder of its own, so it never races another test's build of out/
const out = process.env.STUDIO_OUT_DIR ? resolve(process.env.STUDIO_OUT_DIR) : resolve(root, 'out');

export const rendererConfig: UserConfig = {
  root: resolve(root, 'renderer'),
  base: './',
  plugins: [svelte()],
  build: {
    outDir: resolve(out, 'renderer'),
    target: 'chrome140',
    emptyOutDir: true,
    minify: false,
    reportCompressedSize: false,
    chunkSizeWarningLimit: 2000,
    rolldownOptions: { input: resolve(root, 'renderer/index.html') },
  },
};

export default defineConfig({
  main: {
    build: {
      outDir: resolve(out, 'main'),
      // native modules and onnxruntime stay in node_modules (unpacked from asar at packaging)
      externalizeDeps: true,
      rolldownOptions: {
        input: {
          index: resolve(root, 'main/app/index.ts'),
          // the SAM engine's worker thread is its own file next to index.js
          'engine-worker': resolve(root, 'main/sam/engine-worker.ts'),
          // quantization and setup jobs run in a child process of their own
          'job-process': resolve(root, 'main/services/job-process.ts'),
        },
      },
    },
  },
  preload: {
    build: {
      outDir: resolve(out, 'preload'),
      lib: { entry: resolve(root, 'preload/index.ts'), formats: ['cjs'] },
      rolldownOptions: { output: { format: 'cjs', entryFileNames: '[name].cjs' } },
    },
  },
  renderer: rendererConfig,
});
