// How to (re)build the native KVM addon, in words that work where this copy of vmtrace is:
// in vmtrace's own checkout `npm run build:addon`; installed as a dependency (the package root
// is inside a node_modules directory) `npm rebuild vmtrace`, run in the project that depends
// on it (`-g` for a global install), with --foreground-scripts because npm hides the output of
// install scripts, and so the reason a build fails. scripts/addon-hint.mjs is the same for the
// install script, which runs before dist/ is built; test/record/addon-hint.test.ts keeps the two equal.
import { existsSync } from 'node:fs';
import { join, sep } from 'node:path';

export function addonBuildHint(packageRoot: string): string {
  const parts = packageRoot.split(sep);
  const at = parts.indexOf('node_modules');
  if (at < 0) return 'npm run build:addon';
  // The project is the directory holding the outermost node_modules (pnpm and nested
  // dependencies keep vmtrace deeper inside it); without a package.json there, a global install.
  const project = parts.slice(0, at).join(sep) || sep;
  const global = !existsSync(join(project, 'package.json'));
  return `npm rebuild ${global ? '-g ' : ''}vmtrace --foreground-scripts`;
}
