import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { disassemble } from '../../../src/replay/x86/index.js';
import { asm, noAssembler, run16, setup } from './helpers.js';

const d = (bytes: number[], bits: 16 | 32 | 64 = 16, ip = 0) => disassemble(new Uint8Array(bytes), bits, ip);

describe('disassembler text', () => {
  test.each([
    [[0xb0, 0x48], 'mov al, 0x48'],
    [[0x01, 0xd8], 'add ax, bx'],
    [[0x66, 0x01, 0xd8], 'add eax, ebx'],
    [[0x26, 0x89, 0x47, 0x04], 'mov word ptr es:[bx+0x4], ax'],
    [[0x8b, 0x46, 0xfe], 'mov ax, word ptr [bp-0x2]'],
    [[0x67, 0x8b, 0x44, 0x88, 0x08], 'mov ax, word ptr [eax+ecx*4+0x8]'],
    [[0xa1, 0x34, 0x12], 'mov ax, word ptr [0x1234]'],
    [[0xf3, 0xa4], 'rep movsb'],
    [[0xf3, 0x66, 0xa5], 'rep movsd'],
    [[0xf3, 0xa6], 'repe cmpsb'],
    [[0xf2, 0xae], 'repne scasb'],
    [[0xcd, 0x10], 'int 0x10'],
    [[0xf0, 0x0f, 0xc1, 0x07], 'lock xadd word ptr [bx], ax'],
    [[0x0f, 0x0b], 'ud2'],
    [[0x8d, 0x00], 'lea ax, [bx+si]'],
    [[0xc8, 0x10, 0x00, 0x01], 'enter 0x10, 0x1'],
    [[0x83, 0xc4, 0xfe], 'add sp, 0xfffe'],
    [[0xd1, 0xe0], 'shl ax, 0x1'],
    [[0xd3, 0xf8], 'sar ax, cl'],
    [[0x8c, 0xd8], 'mov ax, ds'],
    [[0x8e, 0xd0], 'mov ss, ax'],
    [[0x66, 0x98], 'cwde'],
    [[0x98], 'cbw'],
    [[0x60], 'pusha'],
    [[0xec], 'in al, dx'],
    [[0xe6, 0x80], 'out 0x80, al'],
    [[0x0f, 0xb6, 0xc3], 'movzx ax, bl'],
    [[0x0f, 0xa2], 'cpuid'],
    [[0x0f, 0x01, 0x16, 0x00, 0x10], 'lgdt fword ptr [0x1000]'],
    [[0xff, 0x1e, 0x00, 0x05], 'call far dword ptr [0x500]'],
    [[0x0f, 0x94, 0xc0], 'sete al'],
    [[0xf4], 'hlt'],
  ])('%j -> %s', (bytes, text) => {
    const r = d(bytes);
    expect(r.text).toBe(text);
    expect(r.length).toBe(bytes.length);
  });

  test('branch targets are absolute given the IP', () => {
    expect(d([0xeb, 0xfe], 16, 0x7c00).text).toBe('jmp 0x7c00');
    expect(d([0x74, 0x10], 16, 0x100).text).toBe('je 0x112');
    expect(d([0xe8, 0xfd, 0xff], 16, 0x10).text).toBe('call 0x10');
    expect(d([0x0f, 0x85, 0x00, 0x01], 16, 0x10).text).toBe('jne 0x114');
    expect(d([0xea, 0x5b, 0xe0, 0x00, 0xf0]).text).toBe('jmp far 0xf000:0xe05b');
    expect(d([0xe3, 0x00]).text).toBe('jcxz 0x2');
    expect(d([0x67, 0xe3, 0x00]).text).toBe('jecxz 0x3');
  });

  test('32- and 64-bit code', () => {
    expect(d([0x8b, 0x44, 0x24, 0x04], 32).text).toBe('mov eax, dword ptr [esp+0x4]');
    expect(d([0x66, 0x89, 0xc3], 32).text).toBe('mov bx, ax');
    expect(d([0x48, 0x89, 0xc3], 64).text).toBe('mov rbx, rax');
    expect(d([0x41, 0x50], 64).text).toBe('push r8');
    expect(d([0x48, 0x8b, 0x05, 0x10, 0x00, 0x00, 0x00], 64)).toEqual({ text: 'mov rax, qword ptr [rip+0x10]', length: 7 });
  });

  test('invalid / truncated input', () => {
    expect(d([0x0f, 0x04]).text).toBe('(bad)');
    expect(d([0x66])).toEqual({ text: '(bad)', length: 1 });
    expect(d([])).toEqual({ text: '(bad)', length: 0 });
    expect(d([0xd9, 0xe8]).length).toBe(2);
  });
});

function hasObjdump(): boolean {
  try {
    execFileSync('objdump', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const noObjdump = noAssembler ?? (hasObjdump() ? null : 'objdump (GNU binutils) not found');
if (noObjdump && !noAssembler) console.warn(`[x86 tests] ${noObjdump}: the objdump cross-check is skipped`);
describe.skipIf(noObjdump)(`instruction lengths agree with objdump${noObjdump ? ` [skipped: ${noObjdump}]` : ''}`, () => {
  test('a broad sample of 16-bit code', () => {
    const src = `
      add %al, (%bx,%si)
      add 0x1234(%bp,%di), %ax
      addl $0x12345678, -4(%bp)
      addw $-3, 0x10(%bx)
      or $0x12, %al
      adc $0x1234, %ax
      sbb %ecx, %edx
      andl $0x7f, (%esi,%edi,2)
      subw $5, 0x12345678(%eax)
      xor %ebx, (%esp)
      cmpb $1, %es:(%di)
      push %es
      pop %ds
      daa
      das
      aaa
      aas
      inc %si
      dec %ebp
      pusha
      popal
      bound %ax, (%bx)
      push $0x1234
      imul $0x1234, %bx, %ax
      push $-5
      imul $3, (%bx), %cx
      insb
      outsl
      jo .+0x10
      test %ax, %bx
      xchg %al, (%bx)
      mov %ds, (%bx)
      lea 4(%bp,%si), %cx
      mov %ax, %fs
      pop (%bx)
      xchg %ax, %cx
      cwtl
      cltd
      lcall $0x1234, $0x5678
      pushf
      popfl
      sahf
      lahf
      mov 0x1234, %al
      mov %eax, 0x1234
      movsb
      cmpsw
      stosl
      lodsb
      scasw
      mov $0x12, %ch
      mov $0x12345678, %ebp
      rolb $3, (%bx)
      shll $5, %eax
      ret $8
      ret
      les (%bx), %ax
      lds (%bx), %eax
      movb $1, (%bx)
      movl $1, 0x10(%bx,%si)
      enter $0x10, $1
      leave
      lret $2
      lret
      int3
      int $0x21
      into
      iret
      rcrw (%bx)
      sarl %cl, %edx
      aam
      aad $7
      xlat
      fld1
      fldl 0x10(%bx)
      fnstsw %ax
      loopne .
      loop .
      jcxz .
      in $0x60, %al
      out %ax, $0x61
      call .+0x100
      jmp .+0x1000
      ljmp $0xf000, $0xe05b
      jmp .
      in (%dx), %eax
      out %al, (%dx)
      lock incw (%bx)
      repne scasb
      rep movsl
      hlt
      cmc
      notw (%bx)
      negl %eax
      mulb %cl
      imulw (%bx)
      divl %ecx
      idivb (%si)
      clc
      stc
      cli
      sti
      cld
      std
      incb (%bx)
      decl %eax
      call *%ax
      lcall *(%bx)
      jmp *0x10(%bx)
      ljmpl *(%bx)
      pushw (%bx)
      sldt %ax
      lgdt (%bx)
      sidt 0x10(%eax)
      smsw %ax
      lmsw %ax
      invlpg (%bx)
      clts
      wbinvd
      ud2
      mov %cr0, %eax
      mov %eax, %cr3
      mov %dr7, %eax
      wrmsr
      rdtsc
      cmovne %ax, %bx
      cmovgl (%bx), %ecx
      movaps %xmm1, %xmm0
      paddd (%bx), %xmm2
      pshufd $5, %xmm1, %xmm0
      pshufb %xmm1, %xmm0
      palignr $8, %xmm1, %xmm0
      jne .+0x200
      setg (%bx)
      push %fs
      pop %gs
      cpuid
      bt %ax, %bx
      shld $4, %ax, (%bx)
      shrd %cl, %eax, %ebx
      bts %eax, (%bx)
      imul (%bx), %ax
      cmpxchg %cl, (%bx)
      lss (%bx), %sp
      btr $3, %ax
      btcl $31, (%bx)
      bsf %ax, %dx
      bsr (%bx), %ecx
      movzbw (%bx), %ax
      movswl %ax, %ecx
      xadd %eax, (%bx)
      cmpxchg8b (%bx)
      bswap %edx
      popcnt %ax, %bx
      tzcnt %eax, %ecx
      nopw (%bx)
      pause
      fxsave (%bx)
      lfence
    `;
    const code = asm(src, 0);
    const dir = mkdtempSync(join(tmpdir(), 'vmtrace-objdump-'));
    let out: string;
    try {
      writeFileSync(join(dir, 'a.bin'), code);
      out = execFileSync('objdump', ['-D', '-b', 'binary', '-m', 'i8086', join(dir, 'a.bin')]).toString();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const starts = [...out.matchAll(/^\s+([0-9a-f]+):\t/gm)].map((m) => parseInt(m[1]!, 16));
    // objdump wraps long instructions onto continuation lines that have an address too but no
    // mnemonic; keep only lines whose address is reached by walking lengths
    const walked: number[] = [];
    for (let ip = 0; ip < code.length;) {
      walked.push(ip);
      const r = disassemble(code.subarray(ip), 16, ip);
      expect(r.length, `at ${ip.toString(16)}: ${r.text}`).toBeGreaterThan(0);
      ip += r.length;
    }
    const objStarts = starts.filter((a) => a < code.length);
    const mismatch = walked.filter((a) => !objStarts.includes(a));
    expect(mismatch.map((a) => `${a.toString(16)}: ${disassemble(code.subarray(a), 16, a).text}`)).toEqual([]);
    expect(walked.length).toBeGreaterThan(150);
  });
});

describe.skipIf(noAssembler)('history and peek use the disassembler', () => {
  test('history lists the last instructions, oldest first', () => {
    const m = run16('mov $1, %ax\nadd %ax, %bx\nnop\nhlt');
    const h = m.cpu.history(3);
    expect(h.map((e) => `${e.at} ${e.text}`)).toEqual(['0000:7c03 add bx, ax', '0000:7c05 nop', '0000:7c06 hlt']);
    expect(m.cpu.history().length).toBe(4);
    expect([...h[0]!.bytes]).toEqual([0x01, 0xc3]);
    expect(m.cpu.peek()).toEqual({ at: '0000:7c07', bytes: expect.any(Uint8Array), text: expect.any(String) });
  });

  test('history records CS:IP across far jumps', () => {
    const m = setup(asm('ljmp $0x0800, $0x0010'));
    m.ram.set([0x90, 0xf4], 0x8010);
    m.cpu.run(10);
    expect(m.cpu.history(3).map((e) => `${e.at} ${e.text}`)).toEqual([
      '0000:7c00 jmp far 0x800:0x10',
      '0800:0010 nop',
      '0800:0011 hlt',
    ]);
  });
});
