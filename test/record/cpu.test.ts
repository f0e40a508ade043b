// The guest's CPUID under KVM: the builtin virtual CPU by default, --cpu host, and re-recording a
// golden with the CPUID stored in it (src/boot/cpu-model.ts, docs/exit-semantics.md).
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { CPU_MODEL_NAME, builtinCpuModel, supportedForVcpu0 } from '../../src/boot/cpu-model.js';
import type { CpuidEntry } from '../../src/cpu-state.js';
import { checkGolden, recordLike, specFromHeader, type Golden } from '../../src/golden/index.js';
import { openKvm } from '../../src/record/kvm.js';
import { CpuidRejectedError } from '../../src/record/machine.js';
import { record } from '../../src/record/recorder.js';
import { replayTrace } from '../../src/replay/engine.js';
import { cpuidLookup } from '../../src/replay/x86/cpuid.js';
import type { TraceHeader, TraceRecord } from '../../src/trace/format.js';
import { openTrace, readTrace } from '../../src/trace/reader.js';
import { vmtrace } from '../support/cli.js';
import { kvmAvailability, kvmTitle } from '../support/kvm.js';
import { recordGuest, ROOT } from '../support/record.js';

const kvm = kvmAvailability();
const dir = mkdtempSync(join(tmpdir(), 'vmtrace-cpu-'));
const GRP_MISC = readFileSync(join(ROOT, 'guests', 'grp_misc.bin'));

/** The --step records of the CPUIDs (0F A2) a real-mode image loaded at 0 executed (registers after each). */
function afterCpuid(image: Uint8Array, trace: { header: TraceHeader; records: TraceRecord[] }): TraceRecord[] {
  const out: TraceRecord[] = [];
  let at = trace.header.boot.regs.rip + trace.header.boot.sregs.cs.base;
  for (const r of trace.records) {
    const i = Number(at);
    if (image[i] === 0x0f && image[i + 1] === 0xa2 && r.regs.rip + r.sregs.cs.base === at + 2n) out.push(r);
    at = r.regs.rip + r.sregs.cs.base;
  }
  return out;
}

const regs32 = (r: TraceRecord) => [r.regs.rax, r.regs.rbx, r.regs.rcx, r.regs.rdx].map((v) => Number(v & 0xffffffffn));

/** A real-mode probe: `mov eax, leaf; mov ecx, subleaf; cpuid` for each query, then HLT. */
function probeImage(queries: Array<[number, number]>): Uint8Array {
  const out: number[] = [];
  const imm = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
  for (const [fn, idx] of queries) out.push(0x66, 0xb8, ...imm(fn), 0x66, 0xb9, ...imm(idx), 0x0f, 0xa2);
  out.push(0xf4);
  return Uint8Array.from(out);
}

const QUERIES: Array<[number, number]> = [
  [0, 0], [1, 0], [2, 0], [3, 0], [4, 0], [4, 1], [5, 0], [6, 0], [7, 0], [7, 1], [8, 0], [0xb, 0], [0xb, 1], [0xd, 0],
  [0xd, 1], [0x1c, 0], [0x40000000, 0], [0x40000001, 0], [0x80000000, 0], [0x80000001, 0], [0x80000002, 0],
  [0x80000003, 0], [0x80000004, 0], [0x80000005, 0], [0x80000006, 0], [0x80000007, 0], [0x80000008, 0],
  [0x80000009, 0], [0x8000001f, 0], [0xc0000000, 0],
];

describe.skipIf(!kvm.ok)(kvmTitle('the guest CPUID under KVM'), () => {
  it('grp_misc runs on the builtin virtual CPU by default: header.cpu, boot.cpuid and what CPUID answered', async () => {
    const { result, console, trace } = await recordGuest('grp_misc.bin', { singleStep: true, output: join(dir, 'grp_misc.step.vmtrace') });
    expect(result.endReason).toBe('hlt');
    expect(result.cpuMissing).toEqual([]);
    const h = trace.header;
    expect(h.cpu).toEqual({ source: 'builtin', name: CPU_MODEL_NAME });
    expect(h.options.cpu).toBe('builtin');
    const model = builtinCpuModel(openKvm().kvm.supportedCpuid());
    expect(h.boot.cpuid).toEqual(model.entries);
    // the guest executes CPUID leaf 0 and prints the vendor
    const [max, ebx, ecx, edx] = cpuidLookup(model.entries, 0, 0);
    const vendor = Buffer.from(Uint32Array.from([ebx, edx, ecx]).buffer).toString('latin1');
    expect(console.text).toContain(`cpuid max>0: yes ${vendor}`);
    const after = afterCpuid(GRP_MISC, trace);
    expect(after.length).toBeGreaterThan(0);
    for (const r of after) expect(regs32(r)).toEqual([max, ebx, ecx, edx]);
    expect(max).toBe(7);
    const replay = await replayTrace(result.output);
    expect(replay.ok).toBe(true);
  });

  it('every leaf the guest can ask for answers what the model (and the interpreter) says', async () => {
    const image = probeImage(QUERIES);
    const output = join(dir, 'probe.vmtrace');
    const result = await record({
      image, imageName: 'probe.bin', output, input: new Uint8Array(0), maxExits: Infinity, timeoutMs: 30_000, singleStep: true, quiet: true,
    });
    const trace = await readTrace(output);
    expect(result.endReason).toBe('hlt');
    const after = afterCpuid(image, trace);
    expect(after).toHaveLength(QUERIES.length);
    const entries = trace.header.boot.cpuid;
    // Measured on kvm_pvm (docs/exit-semantics.md, "The virtual CPU"): leaf 1 ECX/EDX and leaves 7
    // and 0xD are answered from the machine underneath, not from the entries KVM was given.
    const pvm = trace.header.host.kvmModule.includes('kvm_pvm');
    after.forEach((r, k) => {
      const [fn, idx] = QUERIES[k]!;
      const got = regs32(r);
      const want = cpuidLookup(entries, fn, idx);
      if (pvm && (fn === 7 || fn === 0xd)) return;
      if (pvm && fn === 1) {
        expect(got.slice(0, 2), 'CPUID 0x1.0 EAX, EBX').toEqual(want.slice(0, 2));
        return;
      }
      expect(got, `CPUID 0x${fn.toString(16)}.${idx}`).toEqual(want);
    });
    // (on kvm_pvm the leaf-1 answer differs from the entries, so replay rightly diverges there)
    if (!pvm) expect((await replayTrace(output)).ok).toBe(true);
  });

  it('--cpu host passes KVM\'s supported CPUID through; a model file is given to KVM as it is', async () => {
    const host = await recordGuest('grp_misc.bin', { cpu: 'host', output: join(dir, 'host.vmtrace') });
    expect(host.trace.header.cpu).toEqual({ source: 'host', name: 'host' });
    expect(host.trace.header.options.cpu).toBe('host');
    expect(host.trace.header.boot.cpuid).toEqual(supportedForVcpu0(openKvm().kvm.supportedCpuid()));
    // vCPU 0's APIC ID, not that of the host CPU the recorder ran on (kvm_pvm fills that in)
    expect(host.trace.header.boot.cpuid.find((e) => e.function === 1)!.ebx >>> 24).toBe(0);

    const entries = builtinCpuModel(openKvm().kvm.supportedCpuid()).entries.map((e) => (e.function === 0 ? { ...e, eax: 3 } : e));
    const file = join(dir, 'three.json');
    writeFileSync(file, JSON.stringify({ name: 'max-leaf-3', entries }));
    const cli = vmtrace(['record', join(ROOT, 'guests', 'grp_misc.bin'), '-q', '--step', '--cpu', file, '-o', join(dir, 'file.vmtrace')]);
    expect(cli.status, cli.stderr).toBe(0);
    const t = await readTrace(join(dir, 'file.vmtrace'));
    expect(t.header.cpu).toEqual({ source: 'file', name: 'max-leaf-3' });
    expect(t.header.options.cpu).toBe(file);
    expect(t.header.boot.cpuid).toEqual(entries);
    for (const r of afterCpuid(GRP_MISC, t)) expect(regs32(r)[0]).toBe(3);

    const bad = vmtrace(['record', join(ROOT, 'guests', 'grp_misc.bin'), '-q', '--cpu', join(dir, 'nope.json'), '-o', join(dir, 'x.vmtrace')]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--cpu .*nope\.json: no such file/);
  });

  it('re-recording a golden gives the guest the CPUID stored in it, whatever its cpu.source', async () => {
    const goldenPath = join(ROOT, 'traces', 'grp_misc.step.vmtrace');
    const t = await openTrace(goldenPath);
    await t.close();
    // A golden recorded elsewhere, with a CPU this host would not make: max basic leaf 3 and an own brand.
    const stored = t.header.boot.cpuid.map((e) => (e.function === 0 ? { ...e, eax: 3 } : e.function === 0x80000002 ? { ...e, eax: 0x656d6f73 } : e));
    const header: TraceHeader = { ...t.header, boot: { ...t.header.boot, cpuid: stored }, cpu: { source: 'host', name: 'host' } };
    expect(specFromHeader(header).spec.cpuid?.entries).toEqual(stored);
    const output = join(dir, 'again.vmtrace');
    const rec = await recordLike(header, GRP_MISC, 'grp_misc.bin', output);
    expect(rec.endReason).toBe('hlt');
    const fresh = await readTrace(output);
    expect(fresh.header.boot.cpuid).toEqual(stored);
    expect(fresh.header.cpu).toEqual({ source: 'host', name: 'host' });
    const after = afterCpuid(GRP_MISC, fresh);
    expect(after.length).toBeGreaterThan(0);
    for (const r of after) expect(regs32(r)[0]).toBe(3);

    // the committed golden itself (format 1.0: no cpu field) re-records with its own CPUID
    const same = await recordLike(t.header, GRP_MISC, 'grp_misc.bin', join(dir, 'same.vmtrace'));
    expect(same.endReason).toBe('hlt');
    expect((await readTrace(join(dir, 'same.vmtrace'))).header.boot.cpuid).toEqual(t.header.boot.cpuid);
  });

  it('a golden whose stored CPUID KVM rejects fails in one line naming the golden', async () => {
    const goldenPath = join(ROOT, 'traces', 'grp_misc.step.vmtrace');
    const t = await openTrace(goldenPath);
    await t.close();
    // KVM_SET_CPUID2 refuses linear address widths other than 48 and 57 (kvm_check_cpuid()).
    const cpuid: CpuidEntry[] = t.header.boot.cpuid.map((e) => (e.function === 0x80000008 ? { ...e, eax: (e.eax & ~0xff00) | (40 << 8) } : e));
    const header: TraceHeader = { ...t.header, boot: { ...t.header.boot, cpuid } };
    await expect(recordLike(header, GRP_MISC, 'grp_misc.bin', join(dir, 'rejected.vmtrace'))).rejects.toBeInstanceOf(CpuidRejectedError);
    const golden: Golden = {
      name: 'grp_misc.step',
      trace: goldenPath,
      guest: join(ROOT, 'guests', 'grp_misc.bin'),
      guestName: 'grp_misc.bin',
      step: true,
      header,
    };
    const r = await checkGolden(golden, { kvm: true, replay: false, workDir: dir });
    expect(r.ok).toBe(false);
    expect(r.record?.error).toMatch(/^grp_misc\.step: this host's KVM rejects the CPUID stored in the golden .*KVM_SET_CPUID2/);
    expect(r.record?.error).not.toContain('\n');
  });
});
