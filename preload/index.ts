/**
 * The preload: exposes `window.api` (the contract in preload/api.ts) through contextBridge, each
 * method one `ipcRenderer.invoke` on a single channel, and events through one subscription.
 * Built as CommonJS (out/preload/index.cjs): a sandboxed preload cannot be an ES module.
 */
import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron';
import { API_METHODS, CHANNEL_CALL, CHANNEL_EVENT, type ApiEvent } from './api.ts';

const api: Record<string, unknown> = Object.fromEntries(API_METHODS.map((m) => [m, (arg?: unknown) => ipcRenderer.invoke(CHANNEL_CALL, m, arg)]));

api.onEvent = (listener: (event: ApiEvent) => void) => {
  const wrapped = (_e: IpcRendererEvent, event: ApiEvent) => listener(event);
  ipcRenderer.on(CHANNEL_EVENT, wrapped);
  return () => { ipcRenderer.removeListener(CHANNEL_EVENT, wrapped); };
};

contextBridge.exposeInMainWorld('api', api);
