import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';
import { layerOf, mayImport } from '../../eslint.config.js';

const repo = join(import.meta.dirname, '..', '..');
const eslint = new ESLint({ cwd: repo });
const fixture = (name: string) => readFileSync(join(repo, 'tests/fixtures/lint', name), 'utf8');

async function layeringErrors(text: string, asPath: string): Promise<string[]> {
  const [result] = await eslint.lintText(text, { filePath: join(repo, asPath) });
  return result!.messages.filter((m) => m.ruleId === 'local/layering').map((m) => m.message);
}

describe('the layering lint rule', () => {
  it('fails on a TypeScript file importing a folder above its own', async () => {
    const errors = await layeringErrors(fixture('wrong-import.ts'), 'main/masks/wrong-import.ts');
    expect(errors).toEqual([expect.stringContaining('main/masks may not import main/services (../services/session.ts)')]);
  });

  it('fails on a Svelte component importing main/, on the line of the import', async () => {
    const [result] = await eslint.lintText(fixture('WrongImport.svelte'), { filePath: join(repo, 'renderer/components/WrongImport.svelte') });
    const errors = result!.messages.filter((m) => m.ruleId === 'local/layering');
    expect(errors.map((m) => m.message)).toEqual([expect.stringContaining('renderer may not import main/project')]);
    expect(errors[0]!.line).toBe(3);
  });

  it('lets the same import through where the arrow points down', async () => {
    expect(await layeringErrors(fixture('wrong-import.ts'), 'main/api/right-import.ts')).toEqual([]);
  });

  it('reads the table: downward arrows only, the browser side sees only the contract', () => {
    expect(layerOf('main/setup/pipeline.ts')).toBe('main/setup');
    expect(layerOf('preload/contract/enums.ts')).toBe('contract');
    expect(layerOf('preload/index.ts')).toBe('preload');
    expect(layerOf('renderer/components/Canvas.svelte/0.svelte-script')).toBe('renderer');
    expect(mayImport('main/setup', 'main/ptq4sam')).toBe(true);
    expect(mayImport('main/ptq4sam', 'main/setup')).toBe(false);
    expect(mayImport('main/sam', 'main/ptq4sam')).toBe(false);
    expect(mayImport('main/base', 'main/onnx')).toBe(false);
    expect(mayImport('renderer', 'contract')).toBe(true);
    expect(mayImport('renderer', 'main/base')).toBe(false);
    expect(mayImport('contract', 'main/project')).toBe(false);
  });
});
