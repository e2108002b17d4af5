// Lint rules that encode the architecture (docs: README "Layout"): only main/app talks to
// Electron, and the renderer never touches Node.
import tseslint from 'typescript-eslint';
import globals from 'globals';

const nodeBuiltins = [
  'fs', 'fs/promises', 'path', 'os', 'child_process', 'worker_threads', 'crypto', 'net', 'http',
  'https', 'stream', 'url', 'util', 'zlib', 'events', 'buffer', 'process',
];

export default tseslint.config(
  { ignores: ['node_modules/**', 'out/**', 'dist/**', '.scratch/**', 'bench/results/**', 'renderer/**/*.svelte', 'tests/fixtures/**'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts', '**/*.js'],
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
  {
    files: ['main/**/*.ts', 'tests/**/*.ts', 'bench/**/*.ts'],
    ignores: ['main/app/**'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: [{ name: 'electron', message: 'Only main/app/ may import electron; the rest of main/ is plain Node.' }],
      }],
    },
  },
  {
    // better-sqlite3's binary differs between Node and Electron: one place picks it
    files: ['main/**/*.ts'],
    ignores: ['main/base/sqlite.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', {
        paths: [{ name: 'better-sqlite3', allowTypeImports: true, message: 'Open SQLite with openDatabase (main/base/sqlite.ts): it loads the binary built for the runtime we are in (Node or Electron).' }],
      }],
    },
  },
  {
    files: ['renderer/**/*.ts'],
    languageOptions: { globals: { ...globals.browser } },
    rules: {
      'no-restricted-imports': ['error', {
        paths: [
          { name: 'electron', message: 'The renderer reaches the main process only through window.api.' },
          ...nodeBuiltins.flatMap((n) => [{ name: n, message: 'The renderer is a browser: no Node built-ins.' }, { name: `node:${n}`, message: 'The renderer is a browser: no Node built-ins.' }]),
        ],
      }],
    },
  },
);
