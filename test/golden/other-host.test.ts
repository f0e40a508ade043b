// Portable goldens: a golden recorded on another host must still pass `vmtrace test` here.
// Committed goldens are rewritten as another host would have recorded them — other values in the
// RFLAGS bits that are architecturally undefined at each record (MUL/IMUL, BSF/BSR, BT*, …),
// other host facts, another host model, a passed-through CPUID table of another CPU (another
// brand string and maximum basic leaf) — and checked with the golden API (what `vmtrace test`
// runs): host-dependent differences are noted and counted, not failures, unless `exact`.
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { checkGolden, findGoldens, formatGoldenLine, type Golden } from '../../src/golden/index.js';
import { undefinedFlagMasks } from '../../src/inspect/undefined-flags.js';
import type { CpuidEntry, TraceHeader } from '../../src/trace/format.js';
import { kvmAvailability, kvmTitle } from '../support/kvm.js';
import { vmtrace } from '../support/cli.js';
import { ROOT } from '../support/record.js';
import { rewriteTrace } from '../support/rewrite.js';

/** Goldens that leave flags undefined (grp_muldiv: MUL/IMUL/DIV, grp_bit: BT, BTS, BSF, BSR) and run CPUID (grp_misc). */
const GOLDENS = [
  { name: 'grp_muldiv.step', guest: 'grp_muldiv.bin', undefinedFlags: true, cpuid: false },
  { name: 'grp_bit.step', guest: 'grp_bit.bin', undefinedFlags: true, cpuid: false },
  { name: 'grp_misc.step', guest: 'grp_misc.bin', undefinedFlags: false, cpuid: true },
] as const;

/** Another CPU's brand string, as CPUID 0x80000002..4 return it (16 bytes per leaf). */
const BRAND = 'Other Vendor CPU @ 3.00GHz (vmtrace other-host test)'.padEnd(48, '\0').slice(0, 48);
/** Another maximum basic leaf (the guest's CPUID leaf 0 returns it in EAX). */
const OTHER_MAX_LEAF = 0x10;

/** The CPUID table another host would pass through: another brand string and maximum basic leaf. */
function otherCpuid(entries: readonly CpuidEntry[]): CpuidEntry[] {
  const brand = Buffer.from(BRAND, 'latin1');
  return entries.map((e) => {
    if (e.function === 0) return { ...e, eax: OTHER_MAX_LEAF };
    if (e.function >= 0x80000002 && e.function <= 0x80000004) {
      const at = (e.function - 0x80000002) * 16;
      return { ...e, eax: brand.readUInt32LE(at), ebx: brand.readUInt32LE(at + 4), ecx: brand.readUInt32LE(at + 8), edx: brand.readUInt32LE(at + 12) };
    }
    return { ...e };
  });
}

/** The header another host would have written. Same CPU vendor: replay's vendor-specific semantics follow header.host.cpuVendor. */
function otherHostHeader(h: TraceHeader): TraceHeader {
  return {
    ...h,
    createdAt: '2031-03-03T03:03:03.333Z',
    host: { ...h.host, kernel: '5.15.0-other-host', kvmModule: h.host.kvmModule === 'kvm_amd' ? 'kvm_pvm' : 'kvm_amd', cpuModel: 'Other CPU model 9999', syncRegs: !h.host.syncRegs },
    cpu: { source: 'host', name: 'passthrough' },
    // Another host model (no flag rules: the rewrite's flipped undefined flags stand for that
    // host's values; flags saved by PUSHF and restored by POPF stay undefined, and are flipped too).
    hostModel: {
      flags: {},
      step: { joins: ['endbr64'] },
    },
    boot: { ...h.boot, cpuid: otherCpuid(h.boot.cpuid) },
  };
}

const kvm = kvmAvailability();
let root: string;
const goldens = new Map<string, Golden>();
/** Per golden: records whose RFLAGS the rewrite changed (in undefined bits only). */
const flipped = new Map<string, number>();
/** Per golden: the first record the rewrite changed. */
const firstChanged = new Map<string, number>();

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'vmtrace-other-host-'));
  mkdirSync(join(root, 'guests'));
  mkdirSync(join(root, 'traces'));
  for (const g of GOLDENS) {
    const src = join(ROOT, 'traces', `${g.name}.vmtrace`);
    copyFileSync(join(ROOT, 'guests', g.guest), join(root, 'guests', g.guest));
    // Which flags are undefined where: from replaying the committed golden.
    const masks = await undefinedFlagMasks(src);
    let flips = 0;
    // CPUID leaf 0 returns the other maximum leaf in EAX; it stays there until the guest
    // overwrites EAX (in the golden: EAX changes from the value CPUID gave).
    let leaf0Eax: bigint | undefined;
    let cpuidLeaf0: CpuidEntry | undefined;
    await rewriteTrace(
      src,
      join(root, 'traces', `${g.name}.vmtrace`),
      (rec, m, index) => {
        const undef = masks.at(index);
        if (undef) {
          m.regs.rflags ^= BigInt(undef);
          flips++;
          if (!firstChanged.has(g.name)) firstChanged.set(g.name, index);
        }
        if (g.cpuid && cpuidLeaf0) {
          const r = rec.regs;
          const low = r.rax & 0xffffffffn;
          if (leaf0Eax === undefined && low === BigInt(cpuidLeaf0.eax) && r.rbx === BigInt(cpuidLeaf0.ebx) && r.rdx === BigInt(cpuidLeaf0.edx) && r.rcx === BigInt(cpuidLeaf0.ecx)) {
            leaf0Eax = low; // the record right after CPUID leaf 0
          }
          if (leaf0Eax !== undefined && low === leaf0Eax) {
            m.regs.rax = (r.rax & ~0xffffffffn) | BigInt(OTHER_MAX_LEAF);
            if (!firstChanged.has(g.name)) firstChanged.set(g.name, index);
          }
          else if (leaf0Eax !== undefined) cpuidLeaf0 = undefined; // EAX overwritten: done
        }
      },
      {
        header: (h) => {
          cpuidLeaf0 = h.boot.cpuid.find((e) => e.function === 0);
          return otherHostHeader(h);
        },
      },
    );
    flipped.set(g.name, flips);
    if (g.cpuid) expect(leaf0Eax, `${g.name}: no record after CPUID leaf 0 found`).toBeDefined();
  }
  const set = await findGoldens(root);
  for (const g of set.goldens) goldens.set(g.name, g);
}, 120_000);

afterAll(() => {
  if (root && !process.env.VMTRACE_KEEP_TMP) rmSync(root, { recursive: true, force: true });
});

describe.skipIf(!kvm.ok)(kvmTitle('a golden recorded on another host (vmtrace test with KVM)'), () => {
  it('rewrote undefined flags where the goldens leave them undefined', () => {
    for (const g of GOLDENS) if (g.undefinedFlags) expect(flipped.get(g.name), g.name).toBeGreaterThan(0);
  });

  for (const g of GOLDENS) {
    it(`${g.name}: passes; its host-dependent differences are noted and counted`, async () => {
      const golden = goldens.get(g.name)!;
      expect(golden).toBeDefined();
      const r = await checkGolden(golden, { kvm: true, replay: true });
      const rec = r.record!;
      const diff = rec.diff!;
      const report = `${formatGoldenLine(r)}\n${r.problems.join('\n')}\n${rec.error ?? ''}`;
      // Recorded with the golden's CPUID (not this host's), so the guest's CPUID results agree.
      expect(rec.error, report).toBeNull();
      expect(diff.behaviour, report).toBe(0);
      expect(r.ok, report).toBe(true);
      expect(rec.identical).toBe(true);
      // Host facts and the host model: host-dependent header differences.
      const hostFields = diff.header.filter((d) => d.class === 'host-dependent').map((d) => d.field);
      expect(hostFields).toEqual(expect.arrayContaining(['createdAt', 'host.kernel', 'host.kvmModule', 'host.cpuModel', 'host.syncRegs', 'hostModel']));
      expect(diff.header.filter((d) => d.class === 'behaviour')).toEqual([]);
      // Re-recorded with the golden's CPUID table and CPU choice: no difference there.
      expect(hostFields).not.toContain('boot.cpuid');
      expect(hostFields).not.toContain('cpu');
      // Other undefined flags: host-dependent record differences, one per rewritten record.
      if (g.undefinedFlags) {
        expect(diff.counts['undefined-flags']).toBe(flipped.get(g.name));
        expect(diff.counts.registers).toBe(0);
        expect(diff.records.every((x) => x.class === 'host-dependent')).toBe(true);
      }
      expect(diff.hostDependent).toBe(diff.counts.host + diff.counts['undefined-flags'] + diff.counts.timestamps);
      // The result line notes them.
      expect(rec.hostNote).toContain('host.kernel');
      if (g.undefinedFlags) expect(rec.hostNote).toMatch(/undefined RFLAGS bits in \d+ records/);
      expect(formatGoldenLine(r)).toMatch(new RegExp(`^PASS  ${g.name.replace('.', '\\.')}  .*\\(host-dependent, not failures: .*host\\.kernel`));
    }, 120_000);

    it(`${g.name}: fails with --exact, which reports the host-dependent differences`, async () => {
      const r = await checkGolden(goldens.get(g.name)!, { kvm: true, replay: false, exact: true, keepFailed: false });
      const diff = r.record!.diff!;
      expect(r.record!.error).toBeNull();
      expect(r.ok).toBe(false);
      expect(diff.identical).toBe(false);
      expect(diff.options.exact).toBe(true);
      expect(diff.behaviour).toBe(0);
      expect(diff.hostDependent).toBeGreaterThan(0);
      expect(diff.header.map((d) => d.field)).toContain('host.kernel');
      if (g.undefinedFlags) expect(diff.counts['undefined-flags']).toBe(flipped.get(g.name));
      // Goldens hold no timestamps (docs/golden.md): with --exact the first divergence is the
      // first record the other host's values changed.
      const first = firstChanged.get(g.name)!;
      expect(diff.first).toMatchObject({ where: 'record', index: first });
      expect([...diff.first!.fields, ...diff.first!.registers].every((d) => d.class === 'host-dependent')).toBe(true);
      expect(r.problems.join('\n')).toMatch(new RegExp(`differs at record #${first}\\b`));
    }, 120_000);
  }

  it('the vmtrace test command passes them, and fails them with --exact', () => {
    const r = vmtrace(['test', '--root', root]);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^3 passed, 0 failed/m);
    expect(r.stdout).toMatch(/note: 3 goldens differ from their fresh recording in host-dependent ways only/);
    const exact = vmtrace(['test', '--root', root, '--exact', '--no-replay']);
    expect(exact.status).toBe(1);
    expect(exact.stdout).toMatch(/^0 passed, 3 failed/m);
  }, 120_000);

});
