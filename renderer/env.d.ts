// Module shapes vite resolves for the renderer (svelte-check reads the .svelte files themselves).
declare module '*.svelte' {
  import type { Component } from 'svelte';
  const component: Component<any>;
  export default component;
}
declare module '*.css';
