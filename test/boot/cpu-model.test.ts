// The builtin virtual CPU and model files (src/boot/cpu-model.ts): pure, no KVM.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import {
  CPU_BRAND,
  CPU_MODEL_NAME,
  CpuModelError,
  MAX_BASIC_LEAF,
  MAX_EXTENDED_LEAF,
  builtinCpuModel,
  cpuModelEntries,
  loadCpuModelFile,
  parseCpuModel,
  supportedForVcpu0,
  vendorString,
} from '../../src/boot/cpu-model.js';
import type { CpuidEntry } from '../../src/cpu-state.js';
import { cpuFeatures, cpuidLookup } from '../../src/replay/x86/cpuid.js';

const e = (fn: number, eax: number, ebx: number, ecx: number, edx: number, index = 0, flags = 0): CpuidEntry => ({ function: fn, index, flags, eax, ebx, ecx, edx });

// "AuthenticAMD" / "GenuineIntel" as EBX, ECX, EDX of leaf 0.
const AMD = { ebx: 0x68747541, ecx: 0x444d4163, edx: 0x69746e65 };
const INTEL = { ebx: 0x756e6547, ecx: 0x6c65746e, edx: 0x49656e69 };

/** A kvm_pvm AMD EPYC host's KVM_GET_SUPPORTED_CPUID (abridged: the leaves the model uses, and a few more). */
const AMD_PVM: CpuidEntry[] = [
  e(0x0, 0x1c, AMD.ebx, AMD.ecx, AMD.edx),
  e(0x1, 0x00a10f11, 0x01020800, 0x81202000, 0x078bfbff),
  e(0x7, 0x1, 0x01800002, 0x104, 0x20000000, 0, 1),
  e(0x7, 0, 0, 0, 0, 1, 1),
  e(0xd, 0xe7, 0x980, 0x980, 0, 0, 1),
  e(0x80000000, 0x80000021, AMD.ebx, AMD.ecx, AMD.edx),
  e(0x80000001, 0x00a10f11, 0x40000000, 0x00400393, 0x23d3fbff),
  e(0x80000007, 0, 0, 0, 0x100),
  e(0x80000008, 0x3030, 0x50020005, 0x7001, 0),
  e(0x40000000, 0x40000001, 0x4b4d564b, 0x564b4d56, 0x4d),
  e(0x40000001, 0x01007efb, 0, 0, 0),
];

/** A bare-metal Zen 3 KVM (kvm_amd): many more features, other signature, 0x8000_0008 as the hardware says. */
const AMD_ZEN3: CpuidEntry[] = [
  e(0x0, 0x10, AMD.ebx, AMD.ecx, AMD.edx),
  e(0x1, 0x00a20f10, 0x00100800, 0xf6d8320b, 0x178bfbff),
  e(0x7, 0, 0x219c07ab, 0x0040068c, 0x00000010, 0, 1),
  e(0x80000000, 0x80000023, AMD.ebx, AMD.ecx, AMD.edx),
  e(0x80000001, 0x00a20f10, 0x20000000, 0x75c237ff, 0x2fd3fbff),
  e(0x80000008, 0x3030, 0x0300c205, 0x400f, 0),
];

/** Two Intel KVMs (a Skylake server, an Alder Lake desktop). */
const INTEL_SKX: CpuidEntry[] = [
  e(0x0, 0x16, INTEL.ebx, INTEL.ecx, INTEL.edx),
  e(0x1, 0x00050654, 0x00010800, 0xfffa3223, 0x0f8bfbff),
  e(0x7, 0, 0xd19f4fbb, 0x0000000c, 0xbc000400, 0, 1),
  e(0x80000000, 0x80000008, 0, 0, 0),
  e(0x80000001, 0, 0, 0x00000121, 0x2c100800),
  e(0x80000008, 0x302e, 0, 0, 0),
];
const INTEL_ADL: CpuidEntry[] = [
  e(0x0, 0x20, INTEL.ebx, INTEL.ecx, INTEL.edx),
  e(0x1, 0x00090672, 0x00800800, 0xf7fa3203, 0x1f8bfbff),
  e(0x7, 0x2, 0x239c27eb, 0x98c027ac, 0xfc1cc410, 0, 1),
  e(0x80000000, 0x80000008, 0, 0, 0),
  e(0x80000001, 0, 0, 0x00000121, 0x2c100800),
  e(0x80000008, 0x3027, 0, 0, 0),
];

const leaf = (entries: CpuidEntry[], fn: number, index = 0) => cpuidLookup(entries, fn, index);

describe('builtin CPU model', () => {
  it('is the same on two different AMD hosts, and on two different Intel hosts', () => {
    const a = builtinCpuModel(AMD_PVM);
    const b = builtinCpuModel(AMD_ZEN3);
    expect(a.entries).toEqual(b.entries);
    expect(a.missing).toEqual([]);
    expect(b.missing).toEqual([]);
    const i = builtinCpuModel(INTEL_SKX);
    const j = builtinCpuModel(INTEL_ADL);
    expect(i.entries).toEqual(j.entries);
    expect(i.missing).toEqual([]);
    expect(j.missing).toEqual([]);
    expect(a.name).toBe(CPU_MODEL_NAME);
    // and it is the model itself wherever KVM supports all of it
    expect(a.entries).toEqual(cpuModelEntries(AMD));
    expect(i.entries).toEqual(cpuModelEntries(INTEL));
  });

  it('keeps the host vendor string and fixes the leaves that say what the CPU is', () => {
    for (const [host, vendor] of [[AMD_ZEN3, 'AuthenticAMD'], [INTEL_ADL, 'GenuineIntel']] as const) {
      const m = builtinCpuModel(host).entries;
      const [max, ebx, ecx, edx] = leaf(m, 0);
      expect(max).toBe(MAX_BASIC_LEAF);
      expect(vendorString({ ebx, ecx, edx })).toBe(vendor);
      expect(leaf(m, 1)[0]).toBe(0x00000f61);
      expect(leaf(m, 0x80000000)[0]).toBe(MAX_EXTENDED_LEAF);
      const brand = Buffer.alloc(48);
      for (let k = 0; k < 3; k++) leaf(m, 0x80000002 + k).forEach((v, r) => brand.writeUInt32LE(v, k * 16 + r * 4));
      expect(brand.toString('latin1').replace(/\0+$/, '')).toBe(CPU_BRAND);
      expect(CPU_BRAND).toContain('vmtrace virtual CPU');
      // no hypervisor bit, no x2APIC, no KVM paravirt leaves
      expect(leaf(m, 1)[2] & (1 << 31)).toBe(0);
      expect(leaf(m, 1)[2] & (1 << 21)).toBe(0);
      expect(m.some((x) => x.function >= 0x40000000 && x.function < 0x80000000)).toBe(false);
      // 36-bit physical, 48-bit linear addresses
      expect(leaf(m, 0x80000008)[0]).toBe(0x3024);
      // subleaf leaves are fixed
      expect(leaf(m, 7, 0)).toEqual([0, 0, 0, 0]);
      expect(leaf(m, 4, 0)).toEqual([0, 0, 0, 0]);
    }
    // AMD repeats the vendor in 0x8000_0000 and the leaf-1 bits in 0x8000_0001; Intel does not
    expect(vendorString({ ebx: leaf(builtinCpuModel(AMD_ZEN3).entries, 0x80000000)[1], ecx: leaf(builtinCpuModel(AMD_ZEN3).entries, 0x80000000)[2], edx: leaf(builtinCpuModel(AMD_ZEN3).entries, 0x80000000)[3] })).toBe('AuthenticAMD');
    expect(leaf(builtinCpuModel(INTEL_ADL).entries, 0x80000000).slice(1)).toEqual([0, 0, 0]);
    expect(leaf(builtinCpuModel(INTEL_ADL).entries, 0x80000001)[3]).toBe(0x20100800);
  });

  it('gives the interpreter CX16, NX and LM, and none of the features some KVM hosts lack', () => {
    for (const host of [AMD_PVM, AMD_ZEN3, INTEL_SKX, INTEL_ADL]) {
      expect(cpuFeatures(builtinCpuModel(host).entries)).toEqual({
        popcnt: false, lzcnt: false, bmi1: false, cx16: true, pdpe1gb: false, nx: true, lm: true,
        rdtscp: false, rdrand: false, rdseed: false, rdpid: false, maxPhysAddr: 36,
      });
    }
  });

  it('never sets a feature bit KVM does not support', () => {
    const stingy: CpuidEntry[] = [
      e(0x0, 0xd, AMD.ebx, AMD.ecx, AMD.edx),
      e(0x1, 0, 0, 0, 0x00000041), // FPU, PAE only
      e(0x80000001, 0, 0, 0, 0x20000000), // LM only
      e(0x80000008, 0x3020, 0, 0, 0), // 32-bit physical
    ];
    const m = builtinCpuModel(stingy);
    const sup = (fn: number, r: 'ecx' | 'edx') => stingy.find((x) => x.function === fn)?.[r] ?? 0;
    for (const x of m.entries) {
      if (x.function === 1 || x.function === 0x80000001 || x.function === 7) {
        for (const r of ['ecx', 'edx'] as const) expect((x[r] & ~sup(x.function, r)) >>> 0).toBe(0);
        expect(x.function === 7 ? x.ebx : 0).toBe(0);
      }
    }
    expect(leaf(m.entries, 1)[3]).toBe(0x41);
    expect(leaf(m.entries, 0x80000001)[3]).toBe(0x20000000);
    expect(leaf(m.entries, 0x80000008)[0] & 0xff).toBe(32);
    expect(m.missing).toContain('cx16');
    expect(m.missing).toContain('nx');
    expect(m.missing).toContain('36-bit physical addresses (KVM: 32)');
    // for every host above, too
    for (const host of [AMD_PVM, AMD_ZEN3, INTEL_SKX, INTEL_ADL]) {
      for (const x of builtinCpuModel(host).entries) {
        if (x.function !== 1 && x.function !== 0x80000001 && x.function !== 7) continue;
        const h = host.find((y) => y.function === x.function && y.index === x.index);
        for (const r of ['ebx', 'ecx', 'edx'] as const) {
          if (x.function !== 7 && r === 'ebx') continue;
          expect((x[r] & ~(h?.[r] ?? 0)) >>> 0).toBe(0);
        }
      }
    }
  });

  it('has one entry per leaf (and subleaf), every one a valid kvm_cpuid_entry2', () => {
    const m = builtinCpuModel(AMD_PVM).entries;
    const keys = m.map((x) => `${x.function}/${x.index}`);
    expect(new Set(keys).size).toBe(keys.length);
    for (const x of m) for (const r of ['function', 'index', 'flags', 'eax', 'ebx', 'ecx', 'edx'] as const) expect(x[r] >>> 0).toBe(x[r]);
    expect(parseCpuModel({ entries: m }, 'roundtrip.json').entries).toEqual(m);
  });
});

describe('CPU model files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vmtrace-cpu-'));
  const file = (name: string, text: string) => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };

  it('reads numbers and hex strings, defaults index/flags/registers to 0, names the model', () => {
    const p = file('my.json', JSON.stringify({ name: 'tiny', entries: [{ function: '0x0', eax: 1, ebx: '0x756e6547', ecx: 1818588270, edx: '0x49656e69' }, { function: 7, index: '0', flags: 1 }] }));
    const m = loadCpuModelFile(p);
    expect(m.name).toBe('tiny');
    expect(m.entries).toEqual([e(0, 1, 0x756e6547, 0x6c65746e, 0x49656e69), e(7, 0, 0, 0, 0, 0, 1)]);
    expect(loadCpuModelFile(file('noname.json', '{"entries":[{"function":0}]}')).name).toBe('noname.json');
  });

  it('rejects bad files in one line naming the file and the field', () => {
    const bad: Array<[string, RegExp]> = [
      ['[1]', /bad\.json: expected a JSON object/],
      ['{"entries": []}', /bad\.json: entries: the list is empty/],
      ['{"name": 3, "entries": [{"function": 0}]}', /bad\.json: name: expected a non-empty string, got 3/],
      ['{"entries": {"function": 0}}', /bad\.json: entries: expected an array/],
      ['{"entires": []}', /bad\.json: unknown field 'entires'/],
      ['{"entries": [{"function": 0}, {"function": 1, "eax": "0xzz"}]}', /bad\.json: entries\[1\]\.eax: expected a 32-bit unsigned number or hex string \("0x1f"\), got "0xzz"/],
      ['{"entries": [{"function": 0, "ebx": -1}]}', /bad\.json: entries\[0\]\.ebx: expected a 32-bit unsigned/],
      ['{"entries": [{"function": 0, "ecx": 4294967296}]}', /bad\.json: entries\[0\]\.ecx: expected a 32-bit unsigned/],
      ['{"entries": [{"function": 0, "edx": 1.5}]}', /bad\.json: entries\[0\]\.edx/],
      ['{"entries": [{"index": 0}]}', /bad\.json: entries\[0\]\.function: missing/],
      ['{"entries": [{"function": 0, "eex": 0}]}', /bad\.json: entries\[0\]: unknown field 'eex'/],
      ['{"entries": [{"function": 0, "flags": 8}]}', /bad\.json: entries\[0\]\.flags: KVM knows bits 0-2 only/],
      ['{"entries": [{"function": 1}, {"function": "0x1"}]}', /bad\.json: entries\[1\]: leaf 0x1 index 0 repeats entries\[0\]/],
      ['{"entries": [3]}', /bad\.json: entries\[0\]: expected an object/],
      ['{"entries": [', /bad\.json: not valid JSON/],
    ];
    for (const [text, want] of bad) {
      const p = file('bad.json', text);
      let err: unknown;
      try {
        loadCpuModelFile(p);
      } catch (x) {
        err = x;
      }
      expect(err, text).toBeInstanceOf(CpuModelError);
      expect((err as Error).message, text).toMatch(want);
      expect((err as Error).message).not.toContain('\n');
    }
    expect(() => loadCpuModelFile(join(dir, 'absent.json'))).toThrow(/absent\.json: no such file/);
    const many = { entries: Array.from({ length: 257 }, (_, k) => ({ function: k })) };
    expect(() => parseCpuModel(many, 'many.json')).toThrow(/many\.json: entries: 257 entries, KVM takes at most 256/);
    // subleaves with a significant index may share a leaf
    expect(parseCpuModel({ entries: [{ function: 7, index: 0, flags: 1 }, { function: 7, index: 1, flags: 1 }] }, 'ok.json').entries).toHaveLength(2);
  });
});

describe("KVM's supported CPUID as vCPU 0 sees it", () => {
  it('sets the APIC IDs of the host CPU the ioctl ran on to 0 and keeps everything else', () => {
    // as kvm_pvm reported it when the recorder ran on host CPU 1
    const onCpu1 = [
      e(0x1, 0x00a10f11, 0x01020800, 0x8120320b, 0x0f8bfbff),
      e(0xb, 0, 0x1, 0x100, 0x1, 0, 1),
      e(0x8000001e, 0x1, 0x100, 0, 0),
      e(0x7, 0, 0x219c07ab, 0x0040068c, 0x00000010, 0, 1),
    ];
    const out = supportedForVcpu0(onCpu1);
    expect(out[0]).toEqual(e(0x1, 0x00a10f11, 0x00020800, 0x8120320b, 0x0f8bfbff));
    expect(out[1]).toEqual(e(0xb, 0, 0x1, 0x100, 0, 0, 1));
    expect(out[2]).toEqual(e(0x8000001e, 0, 0x100, 0, 0));
    expect(out[3]).toEqual(onCpu1[3]);
    expect(onCpu1[0]!.ebx).toBe(0x01020800); // the input is left alone
  });
});
