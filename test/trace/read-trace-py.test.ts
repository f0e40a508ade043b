// scripts/read-trace.py, the specification's own check: a 50-line Python reader decodes
// vmtrace's 3.0 traces from docs/trace-format.md alone. Runs when a python3 with msgpack is
// installed (Debian: python3-msgpack), and says so when it skips.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';

import { sregsToBytes } from '../../src/kvm-structs.js';
import { realModeSregs } from '../../src/inspect/synthetic.js';
import { readTrace } from '../../src/trace/reader.js';
import { synth, tempDir } from '../inspect/helpers.js';
import { frameOffsets } from '../support/frames.js';

const SCRIPT = 'scripts/read-trace.py';
/** The first python3 that has msgpack (a pyenv shim may come before the system's). */
const PYTHON = ['python3', '/usr/bin/python3'].find((p) => spawnSync(p, ['-c', 'import msgpack'], { stdio: 'ignore' }).status === 0);

const tmp = tempDir('vmtrace-pyreader-');
afterAll(() => tmp.cleanup());

function py(file: string) {
  const r = spawnSync(PYTHON!, [SCRIPT, file], { encoding: 'utf8' });
  return { status: r.status, out: r.stdout + r.stderr };
}

describe.skipIf(!PYTHON)(`scripts/read-trace.py${PYTHON ? '' : ' (skipped: no python3 with msgpack; Debian: apt-get install python3-msgpack)'}`, () => {
  it('reads every record of a 3.0 trace (io, mmio, sregs, exit detail; with and without times) to the same registers', async () => {
    const s = realModeSregs();
    s.ds = { ...s.ds, selector: 0x20 };
    const file = await synth(tmp.path('t.vmtrace'), {
      exits: 3000,
      frameBytes: 8 << 10,
      mutate: (i, rec) => {
        if (i === 100) rec.sregsBytes = sregsToBytes(s);
        if (i === 200) rec.detail = { suberror: 1, suberrorName: 'EMULATION', data: [1, 2] };
        if (i % 3 === 0) rec.timeNs += 2 ** 33; // big times, and gaps < 0 after them
      },
    });
    const t = await readTrace(file);
    expect(frameOffsets(readFileSync(file)).length).toBeGreaterThan(4);
    const rip = `0x${t.records.at(-1)!.regs.rip.toString(16)}`;
    expect(py(file)).toEqual({ status: 0, out: `format [3, 1], x86_64, ${t.records.length} records, last PC ${rip}, ended hlt\n` });
  });

  it('reports a changed byte as corrupt and a cut file as truncated, with the byte offset', async () => {
    const file = tmp.path('t.vmtrace');
    const bytes = readFileSync(file);
    const frames = frameOffsets(bytes);
    const flipped = Buffer.from(bytes);
    flipped[frames[2]! + 40] ^= 1;
    writeFileSync(tmp.path('bad.vmtrace'), flipped);
    expect(py(tmp.path('bad.vmtrace')).out).toContain(`corrupt frame at byte ${frames[2]}`);
    writeFileSync(tmp.path('cut.vmtrace'), bytes.subarray(0, frames[3]! + 10));
    expect(py(tmp.path('cut.vmtrace')).out).toContain(`truncated at byte ${frames[3]}`);
  });
});
