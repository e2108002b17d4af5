// `node --import ./tests/shell/electron-standin/register.mjs out/main/index.js`: the built main
// process's `import ... from 'electron'` gets the stand-in (index.ts, loaded through tsx).
import { register } from 'node:module';

register('./hooks.mjs', import.meta.url);
