/**
 * Image paths as stored and as found again. An image inside the project folder is stored
 * relative to it ('/' separated), so moving the folder keeps every link. An image outside is
 * stored absolute, together with its path from the project folder at the time it was added:
 * if the absolute path is gone, that relation is tried (project and images moved together),
 * then the trailing parts of the old path under the current project folder (images copied
 * next to the project), the latter only accepted when the content hash matches.
 */
import { isAbsolute, join, relative, resolve, sep } from 'node:path';

export interface StoredPath {
  path: string;
  pathFromProject: string | null;
}

const toSlashes = (p: string) => p.split(sep).join('/');

function isAbsoluteAnywhere(p: string): boolean {
  return isAbsolute(p) || /^[A-Za-z]:[\\/]/.test(p);
}

export function storedPathOf(projectDir: string, file: string): StoredPath {
  const abs = resolve(file);
  const rel = relative(projectDir, abs);
  if (isAbsolute(rel)) return { path: abs, pathFromProject: null }; // another drive
  if (rel !== '' && rel !== '..' && !rel.startsWith(`..${sep}`)) return { path: toSlashes(rel), pathFromProject: null };
  return { path: abs, pathFromProject: toSlashes(rel) };
}

export interface Candidate {
  file: string;
  /** true when only a matching content hash makes this file the image */
  needsHashCheck: boolean;
}

/** Where to look for an image, best guess first. */
export function candidateFiles(projectDir: string, stored: StoredPath): Candidate[] {
  if (!isAbsoluteAnywhere(stored.path)) return [{ file: join(projectDir, ...stored.path.split('/')), needsHashCheck: false }];
  const out: Candidate[] = [{ file: stored.path, needsHashCheck: false }];
  if (stored.pathFromProject !== null) out.push({ file: join(projectDir, ...stored.pathFromProject.split('/')), needsHashCheck: false });
  const parts = stored.path.split(/[\\/]/).filter((p) => p !== '' && !/^[A-Za-z]:$/.test(p));
  for (let i = 1; i < parts.length; i++) out.push({ file: join(projectDir, ...parts.slice(i)), needsHashCheck: true });
  return out;
}
