// The hint for building the addon names the command that works where vmtrace is: its own
// checkout (`npm run build:addon`) or a project that depends on it (`npm rebuild vmtrace`).
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { addonBuildHint } from '../../src/addon-hint.js';
import { HAVE_CLI } from '../inspect/helpers.js';
import { ROOT } from '../support/record.js';

const tmp = mkdtempSync(join(tmpdir(), 'vmtrace-hint-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

// The install script's copy (it runs before dist/ exists) must say the same.
const { addonBuildHint: scriptHint } = (await import(join(ROOT, 'scripts', 'addon-hint.mjs'))) as { addonBuildHint: (root: string) => string };

describe('addonBuildHint', () => {
  const project = join(tmp, 'proj');
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), '{}');
  const cases: Array<[string, string]> = [
    [ROOT, 'npm run build:addon'],
    [join(project, 'node_modules', 'vmtrace'), 'npm rebuild vmtrace --foreground-scripts'],
    [join(project, 'node_modules', 'some-tool', 'node_modules', 'vmtrace'), 'npm rebuild vmtrace --foreground-scripts'],
    [join(project, 'node_modules', '.pnpm', 'vmtrace@0.1.0', 'node_modules', 'vmtrace'), 'npm rebuild vmtrace --foreground-scripts'],
    // no package.json above node_modules: a global install (e.g. /usr/lib/node_modules/vmtrace)
    [join(tmp, 'prefix', 'lib', 'node_modules', 'vmtrace'), 'npm rebuild -g vmtrace --foreground-scripts'],
  ];
  for (const [root, hint] of cases) {
    it(`${root.replace(tmp, '<tmp>')} -> ${hint}`, () => {
      expect(addonBuildHint(root)).toBe(hint);
      expect(scriptHint(root)).toBe(hint);
    });
  }
});

describe.skipIf(process.platform !== 'linux' || !HAVE_CLI)(
  `vmtrace record installed as a dependency${HAVE_CLI ? '' : ' [skipped: dist/cli.js not built]'}`,
  () => {
    it('says the addon is not built and to run npm rebuild vmtrace', () => {
      // A project with vmtrace in node_modules (its dist/ and package.json; no build/), its
      // dependencies linked from this checkout.
      const project = join(tmp, 'dependent');
      const pkg = join(project, 'node_modules', 'vmtrace');
      mkdirSync(pkg, { recursive: true });
      writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'dependent', private: true }));
      cpSync(join(ROOT, 'package.json'), join(pkg, 'package.json'));
      cpSync(join(ROOT, 'dist'), join(pkg, 'dist'), { recursive: true });
      for (const dep of ['commander', 'msgpackr']) symlinkSync(join(ROOT, 'node_modules', dep), join(project, 'node_modules', dep));
      const image = join(project, 'spin.bin');
      writeFileSync(image, Uint8Array.from([0xeb, 0xfe]));
      const r = spawnSync(process.execPath, [join(pkg, 'dist', 'cli.js'), 'record', image], { cwd: project, encoding: 'utf8', timeout: 60_000 });
      expect(r.status, r.stderr).toBe(3);
      expect(r.stderr.trim()).toBe(
        'vmtrace: the native KVM addon is not built (needs g++, make and python3): install them, then run `npm rebuild vmtrace --foreground-scripts`',
      );
    });
  },
);
