// Lint rules that encode the architecture (README "Layout"): the layering table below is the one
// place that says which folder may import which; only main/app talks to Electron; the renderer
// never touches Node. Svelte components are checked too: their <script> blocks are linted for
// the layering rules (the type checks of .svelte files are svelte-check's).
import { dirname, relative, resolve } from 'node:path';
import tseslint from 'typescript-eslint';
import globals from 'globals';

const root = import.meta.dirname;

/**
 * Arrows point down only. A folder may import its own files and the folders of any tier below
 * its own; `tests/` and `bench/` may import anything. The contract (preload/contract/) is the
 * bottom: it imports nothing of ours.
 */
export const LAYERS = [
  ['main/app'],
  ['main/api', 'main/cli'],
  ['main/services'],
  ['main/setup'],
  ['main/ptq4sam'],
  ['main/project', 'main/sam'],
  ['main/formats', 'main/onnx'],
  ['main/masks'],
  ['main/base'],
  ['renderer', 'preload'],
  ['contract'],
];
/** what each layer may import besides the tiers below it (the browser side sees only the contract) */
const ONLY = { renderer: ['contract'], preload: ['contract'], contract: [] };

/** The layer a repository path belongs to, or null outside the layered folders. */
export function layerOf(repoPath) {
  const p = repoPath.split('\\').join('/').replace(/\.svelte\/[^/]*$/, '.svelte');
  if (p.startsWith('preload/contract/')) return 'contract';
  for (const tier of LAYERS) for (const layer of tier) if (p === layer || p.startsWith(`${layer}/`)) return layer;
  return null;
}

function tierOf(layer) {
  return LAYERS.findIndex((tier) => tier.includes(layer));
}

/** Whether code in layer `from` may import code in layer `to`. */
export function mayImport(from, to) {
  if (from === to || to === null) return true;
  if (ONLY[from]) return ONLY[from].includes(to);
  return tierOf(to) > tierOf(from);
}

const layering = {
  meta: { type: 'problem', schema: [], messages: { upward: '{{from}} may not import {{to}} ({{spec}}): arrows point down only (eslint.config.js LAYERS, README "Layout").' } },
  create(context) {
    const file = relative(root, context.filename).split('\\').join('/');
    const from = layerOf(file);
    if (from === null) return {};
    const check = (node, spec) => {
      if (typeof spec !== 'string' || !spec.startsWith('.')) return;
      const target = relative(root, resolve(dirname(resolve(root, file.replace(/\.svelte\/[^/]*$/, '.svelte'))), spec)).split('\\').join('/');
      const to = layerOf(target);
      if (!mayImport(from, to)) context.report({ node, messageId: 'upward', data: { from, to, spec } });
    };
    return {
      ImportDeclaration: (node) => check(node.source, node.source.value),
      ExportNamedDeclaration: (node) => node.source && check(node.source, node.source.value),
      ExportAllDeclaration: (node) => check(node.source, node.source.value),
      ImportExpression: (node) => node.source.type === 'Literal' && check(node.source, node.source.value),
    };
  },
};

/** Hands ESLint the <script> blocks of a .svelte file as TypeScript, lines kept in place. */
const svelteScripts = {
  preprocess(text) {
    const blocks = [];
    for (const m of text.matchAll(/<script\b[^>]*>([\s\S]*?)<\/script>/g)) {
      const before = text.slice(0, m.index + m[0].indexOf('>') + 1);
      const lines = before.split('\n').length - 1;
      blocks.push({ text: '\n'.repeat(lines) + m[1], filename: `${blocks.length}.svelte-script` });
    }
    return blocks;
  },
  postprocess: (messages) => messages.flat(),
  supportsAutofix: false,
};

const local = { rules: { layering }, processors: { 'svelte-scripts': svelteScripts } };

const nodeBuiltins = [
  'fs', 'fs/promises', 'path', 'os', 'child_process', 'worker_threads', 'crypto', 'net', 'http',
  'https', 'stream', 'url', 'util', 'zlib', 'events', 'buffer', 'process',
];
const browserOnly = {
  'no-restricted-imports': ['error', {
    paths: [
      { name: 'electron', message: 'The renderer reaches the main process only through window.api.' },
      ...nodeBuiltins.flatMap((n) => [{ name: n, message: 'The renderer is a browser: no Node built-ins.' }, { name: `node:${n}`, message: 'The renderer is a browser: no Node built-ins.' }]),
    ],
  }],
};

function offAll(configs) {
  return Object.fromEntries(configs.flatMap((c) => Object.keys(c.rules ?? {})).map((rule) => [rule, 'off']));
}

export default tseslint.config(
  { ignores: ['node_modules/**', 'out/**', 'dist/**', '.scratch/**', 'bench/results/**', 'tests/fixtures/**'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts', '**/*.js'],
    languageOptions: { globals: { ...globals.node } },
    plugins: { local },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'off',
      'local/layering': 'error',
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
  { files: ['renderer/**/*.ts'], languageOptions: { globals: { ...globals.browser } }, rules: browserOnly },
  { files: ['**/*.svelte'], plugins: { local }, processor: 'local/svelte-scripts' },
  {
    files: ['**/*.svelte-script'],
    plugins: { local },
    languageOptions: { parser: tseslint.parser, globals: { ...globals.browser } },
    // only the architecture's rules: code style inside components is svelte-check's (a script's
    // names are used by its markup, which this linter does not see)
    rules: { ...offAll(tseslint.configs.recommended), 'local/layering': 'error', ...browserOnly },
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
);
