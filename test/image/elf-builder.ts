// Builds small ELF32/ELF64 executables in memory for loader tests: program headers, optional
// section headers with a .symtab, and any bytes at any offset so tests can break them.

export interface SegmentSpec {
  paddr: number;
  vaddr?: number;
  data: Uint8Array;
  memsz?: number;
  flags?: number;
  type?: number;
}

export interface ElfSpec {
  bits: 32 | 64;
  entry: number;
  segments: SegmentSpec[];
  symbols?: Record<string, number>;
  machine?: number;
  type?: number;
}

export function buildElf(spec: ElfSpec): Uint8Array {
  const is64 = spec.bits === 64;
  const ehsize = is64 ? 64 : 52;
  const phentsize = is64 ? 56 : 32;
  const shentsize = is64 ? 64 : 40;
  const phoff = ehsize;
  let at = phoff + spec.segments.length * phentsize;
  const dataAt = spec.segments.map((s) => {
    const o = at;
    at += s.data.length;
    return o;
  });
  // .symtab and .strtab, then section headers [null, .symtab, .strtab]
  let symtabAt = 0;
  let strtabAt = 0;
  let symBytes = new Uint8Array(0);
  let strBytes = new Uint8Array(0);
  let shoff = 0;
  if (spec.symbols) {
    const names = Object.keys(spec.symbols);
    const strs: number[] = [0];
    const nameOff: number[] = [];
    for (const n of names) {
      nameOff.push(strs.length);
      strs.push(...Buffer.from(n, 'latin1'), 0);
    }
    strBytes = Uint8Array.from(strs);
    const entsize = is64 ? 24 : 16;
    symBytes = new Uint8Array((names.length + 1) * entsize);
    const sv = new DataView(symBytes.buffer);
    names.forEach((n, i) => {
      const o = (i + 1) * entsize;
      sv.setUint32(o, nameOff[i]!, true);
      if (is64) {
        sv.setUint8(o + 4, 0x12); // global func
        sv.setUint16(o + 6, 1, true); // shndx: defined
        sv.setBigUint64(o + 8, BigInt(spec.symbols![n]!), true);
      } else {
        sv.setUint32(o + 4, spec.symbols![n]!, true);
        sv.setUint8(o + 12, 0x12);
        sv.setUint16(o + 14, 1, true);
      }
    });
    symtabAt = at;
    at += symBytes.length;
    strtabAt = at;
    at += strBytes.length;
    shoff = at;
    at += 3 * shentsize;
  }
  const out = new Uint8Array(at);
  const v = new DataView(out.buffer);
  out.set([0x7f, 0x45, 0x4c, 0x46, is64 ? 2 : 1, 1, 1]);
  v.setUint16(16, spec.type ?? 2, true);
  v.setUint16(18, spec.machine ?? (is64 ? 62 : 3), true);
  v.setUint32(20, 1, true);
  if (is64) {
    v.setBigUint64(24, BigInt(spec.entry), true);
    v.setBigUint64(32, BigInt(phoff), true);
    v.setBigUint64(40, BigInt(shoff), true);
    v.setUint16(52, ehsize, true);
    v.setUint16(54, phentsize, true);
    v.setUint16(56, spec.segments.length, true);
    v.setUint16(58, shentsize, true);
    v.setUint16(60, spec.symbols ? 3 : 0, true);
  } else {
    v.setUint32(24, spec.entry, true);
    v.setUint32(28, phoff, true);
    v.setUint32(32, shoff, true);
    v.setUint16(40, ehsize, true);
    v.setUint16(42, phentsize, true);
    v.setUint16(44, spec.segments.length, true);
    v.setUint16(46, shentsize, true);
    v.setUint16(48, spec.symbols ? 3 : 0, true);
  }
  spec.segments.forEach((s, i) => {
    const p = phoff + i * phentsize;
    const memsz = s.memsz ?? s.data.length;
    const vaddr = s.vaddr ?? s.paddr;
    if (is64) {
      v.setUint32(p, s.type ?? 1, true);
      v.setUint32(p + 4, s.flags ?? 5, true);
      v.setBigUint64(p + 8, BigInt(dataAt[i]!), true);
      v.setBigUint64(p + 16, BigInt(vaddr), true);
      v.setBigUint64(p + 24, BigInt(s.paddr), true);
      v.setBigUint64(p + 32, BigInt(s.data.length), true);
      v.setBigUint64(p + 40, BigInt(memsz), true);
    } else {
      v.setUint32(p, s.type ?? 1, true);
      v.setUint32(p + 4, dataAt[i]!, true);
      v.setUint32(p + 8, vaddr, true);
      v.setUint32(p + 12, s.paddr, true);
      v.setUint32(p + 16, s.data.length, true);
      v.setUint32(p + 20, memsz, true);
      v.setUint32(p + 24, s.flags ?? 5, true);
    }
    out.set(s.data, dataAt[i]!);
  });
  if (spec.symbols) {
    out.set(symBytes, symtabAt);
    out.set(strBytes, strtabAt);
    const sh = (i: number, type: number, offset: number, size: number, link: number, entsize: number) => {
      const o = shoff + i * shentsize;
      v.setUint32(o + 4, type, true);
      if (is64) {
        v.setBigUint64(o + 24, BigInt(offset), true);
        v.setBigUint64(o + 32, BigInt(size), true);
        v.setUint32(o + 40, link, true);
        v.setBigUint64(o + 56, BigInt(entsize), true);
      } else {
        v.setUint32(o + 16, offset, true);
        v.setUint32(o + 20, size, true);
        v.setUint32(o + 24, link, true);
        v.setUint32(o + 36, entsize, true);
      }
    };
    sh(1, 2, symtabAt, symBytes.length, 2, is64 ? 24 : 16);
    sh(2, 3, strtabAt, strBytes.length, 0, 0);
  }
  return out;
}

/** A multiboot v1 header (12 bytes, or 32 with the a.out kludge fields). */
export function multibootHeader(flags: number, aout?: { headerAddr: number; loadAddr: number; loadEndAddr: number; bssEndAddr: number; entryAddr: number }, checksum?: number): Uint8Array {
  const b = new Uint8Array(aout ? 32 : 12);
  const v = new DataView(b.buffer);
  v.setUint32(0, 0x1badb002, true);
  v.setUint32(4, flags, true);
  v.setUint32(8, checksum ?? (-(0x1badb002 + flags)) >>> 0, true);
  if (aout) {
    v.setUint32(12, aout.headerAddr, true);
    v.setUint32(16, aout.loadAddr, true);
    v.setUint32(20, aout.loadEndAddr, true);
    v.setUint32(24, aout.bssEndAddr, true);
    v.setUint32(28, aout.entryAddr, true);
  }
  return b;
}
