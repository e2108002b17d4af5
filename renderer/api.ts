/**
 * The renderer's only door to the main process: `window.api`, put there by the preload (or by the
 * end-to-end harness, bound to the same handlers). Its type is the contract in preload/contract.
 */
import type { WindowApi } from '../preload/contract/index.ts';

declare global {
  interface Window { api: WindowApi }
}

export const api: WindowApi = window.api;

/** The message of a failed call, without the transport's prefixes. */
export function errorMessage(err: unknown): string {
  const raw = err instanceof Error ? err.message : String(err);
  // Electron prefixes "Error invoking remote method 'api:call': Error: "
  return raw.replace(/^Error invoking remote method '[^']+': (Error: )?/, '');
}

/**
 * Runs a call for a state class: clears `owner.error`, and on failure puts the message there and
 * resolves to undefined, so the UI shows the error instead of an unhandled rejection.
 */
export async function withErrorOn<T>(owner: { error: string | null }, what: () => Promise<T>): Promise<T | undefined> {
  try {
    owner.error = null;
    return await what();
  } catch (err) {
    owner.error = errorMessage(err);
    return undefined;
  }
}
