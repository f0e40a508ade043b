// How to (re)build the native KVM addon where this copy of vmtrace is: the same as
// src/addon-hint.ts (see there), for scripts/build-addon.mjs, which runs before dist/ is built.
import { existsSync } from 'node:fs';
import { join, sep } from 'node:path';

/** `npm run build:addon` in vmtrace's checkout; `npm rebuild vmtrace --foreground-scripts` in a dependent. */
export function addonBuildHint(packageRoot) {
  const parts = packageRoot.split(sep);
  const at = parts.indexOf('node_modules');
  if (at < 0) return 'npm run build:addon';
  const project = parts.slice(0, at).join(sep) || sep;
  const global = !existsSync(join(project, 'package.json'));
  return `npm rebuild ${global ? '-g ' : ''}vmtrace --foreground-scripts`;
}
