/** Native menus; each item sends a command the renderer runs like its shortcut. */
import { Menu, type MenuItemConstructorOptions } from 'electron';
import type { MenuCommand } from '../../preload/contract/index.ts';

/** `devTools`: offer the developer tools (development builds only: a packaged app has none). */
export function buildMenu(send: (command: MenuCommand) => void, options: { devTools: boolean }): void {
  const item = (label: string, command: MenuCommand, accelerator?: string): MenuItemConstructorOptions => ({ label, click: () => send(command), ...(accelerator ? { accelerator } : {}) });
  const template: MenuItemConstructorOptions[] = [
    ...(process.platform === 'darwin' ? [{ role: 'appMenu' as const }] : []),
    {
      label: 'File',
      submenu: [
        item('New Project…', 'project-new', 'CmdOrCtrl+N'),
        item('Open Project…', 'project-open', 'CmdOrCtrl+O'),
        { type: 'separator' },
        item('Add Images…', 'images-add', 'CmdOrCtrl+I'),
        item('Add Folder…', 'folder-add'),
        { type: 'separator' },
        item('Import Annotations…', 'import'),
        item('Export…', 'export', 'CmdOrCtrl+E'),
        { type: 'separator' },
        { role: 'quit' },
      ],
    },
    // Undo/redo go to the project's edit log, not the text fields' history; the renderer's own
    // key handler does the same for Ctrl+Z, so these carry no accelerator (no double undo).
    { label: 'Edit', submenu: [item('Undo', 'undo'), item('Redo', 'redo'), { type: 'separator' }, { role: 'cut' }, { role: 'copy' }, { role: 'paste' }] },
    { label: 'View', submenu: [item('Models', 'models'), { role: 'togglefullscreen' }, ...(options.devTools ? [{ role: 'toggleDevTools' as const }] : [])] },
    { label: 'Help', submenu: [item('Keyboard Shortcuts', 'shortcuts')] },
  ];
  Menu.setApplicationMenu(Menu.buildFromTemplate(template));
}
