// The Electron main process the end-to-end tests use as their browser (tests/helpers/browser.ts):
// it opens nothing itself; each test page is a hidden window the harness asks for, and it keeps
// running until Playwright closes it. Device scale 1 so pixel checks read the same as in Chromium.
import { app } from 'electron';

app.commandLine.appendSwitch('force-device-scale-factor', '1');
app.on('window-all-closed', () => { /* the harness decides when to quit */ });
