// The flag model: rule syntax, rules applied by executors, and the tracking of flags left
// undefined since their last defined write.
import { describe, expect, it } from 'vitest';

import { FlagModel, formatRules, parseRules } from '../../../src/replay/x86/flag-model.js';
import { FLAGS, setup } from './helpers.js';

const { CF, PF, AF, ZF, SF, OF } = FLAGS;

describe('flag model rules', () => {
  it('parses and formats per-flag rules', () => {
    const rules = parseRules('c=0 p=r a=k o=rc');
    expect([...rules]).toEqual([[CF, '0'], [PF, 'r'], [AF, 'k'], [OF, 'rc']]);
    expect(formatRules(rules)).toBe('c=0 p=r a=k o=rc');
    expect(parseRules('o=?').get(OF)).toBe('?');
  });

  it('rejects rules a flag cannot follow, in one line', () => {
    expect(() => parseRules('c=r')).toThrow("bad flag rule 'c=r' (expected e.g. 'p=r')");
    expect(() => parseRules('q=0')).toThrow(/bad flag rule 'q=0'/);
  });

  it('ignores classes it does not know (a newer recorder) and built-in rules', () => {
    const m = new FlagModel({ 'frobnicate.4': 'c=0', 'mul.2': 'p=b s=b' });
    expect(m.rules(0, 2)).toBeNull();
  });
});

describe('executors follow the model', () => {
  // mov bx, 3; bsf ax, bx; hlt
  const bsf = Uint8Array.from([0xbb, 0x03, 0x00, 0x0f, 0xbc, 0xc3, 0xf4]);

  it('keeps the built-in guess without a model (BSF: undefined flags unchanged)', () => {
    const m = setup(bsf, { regs: { rflags: 0x2n | BigInt(CF | SF) } });
    m.runToHlt();
    expect(Number(m.regs().rflags) & (CF | PF | SF | ZF)).toBe(CF | SF);
  });

  it('computes them from the rules: CF=0, PF from the result, SF=0', () => {
    const m = setup(bsf, { regs: { rflags: 0x2n | BigInt(CF | SF) }, flagModel: { 'bsf.2': 'c=0 p=r a=0 s=0 o=0' } });
    m.runToHlt();
    expect(Number(m.regs().rflags) & (CF | PF | SF | ZF | AF | OF)).toBe(PF); // result 0: even parity
  });

  it('applies a rule only to its operand size', () => {
    const m = setup(bsf, { regs: { rflags: 0x2n | BigInt(CF) }, flagModel: { 'bsf.4': 'c=0' } });
    m.runToHlt();
    expect(Number(m.regs().rflags) & CF).toBe(CF);
  });
});

describe('tracking undefined flags', () => {
  it('marks the flags an instruction leaves undefined until something defines them', () => {
    // mul bl; inc ax; bsf ax, bx; add ax, 1; hlt — step by step
    const m = setup(Uint8Array.from([0xf6, 0xe3, 0x40, 0x0f, 0xbc, 0xc3, 0x05, 0x01, 0x00, 0xf4]), { regs: { rax: 2n, rbx: 3n } });
    m.cpu.step();
    expect(m.cpu.undefinedFlagsNow).toBe(SF | ZF | AF | PF);
    m.cpu.step(); // INC defines all but CF
    expect(m.cpu.undefinedFlagsNow).toBe(0);
    m.cpu.step(); // BSF
    expect(m.cpu.undefinedFlagsNow).toBe(CF | OF | SF | AF | PF);
    m.cpu.step();
    expect(m.cpu.undefinedFlagsNow).toBe(0);
  });

  it('INC/DEC keep CF undefined; a Jcc that reads it is reported with its source', () => {
    // bsf ax, bx; inc ax; jc +0; hlt
    const m = setup(Uint8Array.from([0x0f, 0xbc, 0xc3, 0x40, 0x72, 0x00, 0xf4]), { regs: { rbx: 8n } });
    m.cpu.step();
    m.cpu.step();
    expect(m.cpu.undefinedFlagsNow).toBe(CF);
    expect(m.cpu.lastUndefinedUse).toBeNull();
    m.cpu.step();
    expect(m.cpu.lastUndefinedUse).toMatchObject({ flags: CF, usedAt: 0x7c04, setAt: 0x7c00, setBy: 'bsf' });
  });

  it('names the logic instruction that left AF undefined when DAA reads it', () => {
    // xor ax, ax; daa; hlt
    const m = setup(Uint8Array.from([0x31, 0xc0, 0x27, 0xf4]));
    m.runToHlt();
    expect(m.cpu.lastUndefinedUse).toMatchObject({ flags: AF, usedAt: 0x7c02, setAt: 0x7c00, setBy: 'xor' });
  });

  it('does not count reads of defined flags, nor the interpreter saving RFLAGS', () => {
    // mul bl; jc +0 (CF is defined by MUL); hlt
    const m = setup(Uint8Array.from([0xf6, 0xe3, 0x72, 0x00, 0xf4]), { regs: { rax: 2n, rbx: 3n } });
    m.runToHlt();
    m.regs();
    expect(m.cpu.lastUndefinedUse).toBeNull();
  });

  it('POPF and SAHF define the flags they load', () => {
    // mul bl; sahf; hlt
    const m = setup(Uint8Array.from([0xf6, 0xe3, 0x9e, 0xf4]), { regs: { rax: 2n, rbx: 3n } });
    m.runToHlt();
    expect(m.cpu.undefinedFlagsNow).toBe(0);
  });
});

describe('undefined flags saved on the stack', () => {
  it('POPF of a PUSHF image keeps the flags that were undefined in it undefined', () => {
    // bsf ax, bx; pushf; add ax, 1; popf; hlt
    const m = setup(Uint8Array.from([0x0f, 0xbc, 0xc3, 0x9c, 0x05, 0x01, 0x00, 0x9d, 0xf4]), { regs: { rbx: 8n } });
    m.cpu.step();
    m.cpu.step();
    m.cpu.step();
    expect(m.cpu.undefinedFlagsNow).toBe(0);
    m.cpu.step();
    expect(m.cpu.undefinedFlagsNow).toBe(CF | OF | SF | AF | PF);
  });

  it('a POPF of another value defines them', () => {
    // bsf ax, bx; pushf; pop cx; push 0x2; popf; hlt
    const m = setup(Uint8Array.from([0x0f, 0xbc, 0xc3, 0x9c, 0x59, 0x6a, 0x02, 0x9d, 0xf4]), { regs: { rbx: 8n, rflags: 0x8d7n } });
    m.runToHlt();
    expect(m.cpu.undefinedFlagsNow).toBe(0);
  });
});
