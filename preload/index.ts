/**
 * The preload: exposes `window.api` (the contract in preload/contract) through contextBridge,
 * each method one rpc.ts request sent with `ipcRenderer.invoke` on a single channel, and events
 * through one subscription; mask views in answers come packed and are unpacked here. Built as
 * CommonJS (out/preload/index.cjs): a sandboxed preload cannot be an ES module.
 */
import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron';
import { API_METHODS, CHANNEL_CALL, CHANNEL_EVENT, unpackMaskViews, type Api, type ApiEvent } from './contract/index.ts';
import { RpcClient } from './contract/rpc.ts';

const rpc = new RpcClient<Api>((request) => ipcRenderer.invoke(CHANNEL_CALL, request));

// mask views arrive packed (contract/mask-packing.ts): the window gets them whole
const api: Record<string, unknown> = Object.fromEntries(API_METHODS.map((m) => [m, async (...args: unknown[]) => unpackMaskViews(await rpc.call(m, ...(args as Parameters<Api[typeof m]>)))]));

api.onEvent = (listener: (event: ApiEvent) => void) => {
  const wrapped = (_e: IpcRendererEvent, event: ApiEvent) => listener(event);
  ipcRenderer.on(CHANNEL_EVENT, wrapped);
  return () => { ipcRenderer.removeListener(CHANNEL_EVENT, wrapped); };
};

contextBridge.exposeInMainWorld('api', api);
