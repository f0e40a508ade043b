// vmtrace verify: valid, truncated and corrupt traces, as text and --json, with their exit codes.
import { readFileSync, writeFileSync } from 'node:fs';
import { pack } from 'msgpackr';
import { afterAll, describe, expect, it } from 'vitest';

import { regsToBytes } from '../../src/cpu-state.js';
import { realModeSregs, syntheticHeader, zeroRegs } from '../../src/inspect/synthetic.js';
import { sregsToBytes } from '../../src/kvm-structs.js';
import { verifyTrace } from '../../src/trace/verify.js';
import { cli, HAVE_CLI, synth, tempDir } from '../inspect/helpers.js';
import { frameOffsets } from '../support/frames.js';

const tmp = tempDir('vmtrace-verify-');
afterAll(() => tmp.cleanup());

describe('vmtrace verify', () => {
  it('tells valid, truncated and corrupt traces apart', async () => {
    const good = await synth(tmp.path('good.vmtrace'), { exits: 500, frameBytes: 4000 });
    const bytes = readFileSync(good);
    const frames = frameOffsets(bytes);
    const cut = tmp.path('cut.vmtrace');
    writeFileSync(cut, bytes.subarray(0, frames[3]! + 100));
    const corrupt = tmp.path('corrupt.vmtrace');
    const flipped = Buffer.from(bytes);
    flipped[frames[2]! + 40] ^= 1;
    writeFileSync(corrupt, flipped);

    expect(await verifyTrace(good)).toMatchObject({ format: '3.1', checksums: true, records: 501, exits: 501, complete: true, endReason: 'hlt' });
    const truncated = await verifyTrace(cut);
    expect(truncated).toMatchObject({ complete: false, truncatedAt: frames[3] });
    expect(truncated.records).toBeGreaterThan(0);
    await expect(verifyTrace(corrupt)).rejects.toThrow(`byte offset ${frames[2]}: corrupt: records frame checksum mismatch`);
  });

  it.skipIf(!HAVE_CLI)('prints one line per trace and exits 0, 1 or 2 (skipped without dist/: run npm run build)', async () => {
    const good = tmp.path('good.vmtrace');
    const cut = tmp.path('cut.vmtrace');
    const corrupt = tmp.path('corrupt.vmtrace');
    let r = cli('verify', good);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/good\.vmtrace: valid: 501 records \(501 exits\), \d+ bytes, format 3\.1, ended: hlt\n$/);
    r = cli('verify', good, cut);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/cut\.vmtrace: truncated at byte offset \d+: \d+ records/);
    r = cli('verify', good, corrupt, cut);
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^vmtrace: .*corrupt\.vmtrace: byte offset \d+: corrupt: records frame checksum mismatch/);
    r = cli('verify', '--json', good, cut, corrupt);
    expect(r.stdout.trim().split('\n').map((l) => JSON.parse(l).status)).toEqual(['valid', 'truncated', 'corrupt']);
    r = cli('verify', tmp.path('missing.vmtrace'));
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/byte offset 0: no such file/);
  });

  it('marks 1.x traces as carrying no checksums', async () => {
    const h = syntheticHeader();
    const legacy = tmp.path('legacy.vmtrace');
    writeFileSync(legacy, Buffer.concat([
      Buffer.from('\xa7vmtrace', 'latin1'),
      pack({ ...h, format: [1, 1], boot: { mode: 'real', regs: regsToBytes(zeroRegs()), sregs: sregsToBytes(realModeSregs()), cpuid: [] } }),
      pack({ k: 'x', n: 0, r: 5, t: 1, d: 1, g: regsToBytes(zeroRegs()) }),
      pack({ k: 'end', why: 'hlt', msg: '', exits: 1, records: 1, g: regsToBytes(zeroRegs()), s: sregsToBytes(realModeSregs()) }),
    ]));
    expect(await verifyTrace(legacy)).toMatchObject({ format: '1.1', checksums: false, records: 1, complete: true });
  });
});
