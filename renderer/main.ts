/**
 * The renderer: a Svelte 5 + Konva user interface. It runs as an untrusted web page (sandboxed,
 * no Node) and reaches everything through window.api (renderer/api.ts). State lives in
 * renderer/state/*.svelte.ts classes, gestures in renderer/tools/*, every shortcut in
 * renderer/shortcuts.ts; components only read state and call methods. Tests: tests/e2e/.
 */
import { mount } from 'svelte';
import App from './App.svelte';
import './app.css';

mount(App, { target: document.getElementById('app')! });
