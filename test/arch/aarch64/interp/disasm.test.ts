// The disassembler against GNU objdump: fixed words (always), and every instruction of the
// committed guests when aarch64-linux-gnu-objdump is installed (data words objdump shows as
// .word are skipped: it knows from the ELF's mapping symbols that they are not code).
// Convention (the project's): objdump's text with the mnemonic/operand tab as one space, its
// `// ...` comments and `<symbol>` annotations dropped, and branch/adr/adrp/literal targets
// printed as `0x…` (objdump prints a bare hex address): the comparison adds the `0x`.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { disassemble } from '../../../../src/arch/aarch64/interp/index.js';

const OBJDUMP = 'aarch64-linux-gnu-objdump';
const HAVE_OBJDUMP = spawnSync(OBJDUMP, ['--version']).status === 0;
const GUESTS = join(import.meta.dirname, '..', '..', '..', '..', 'guests', 'arm64');

/** Words and objdump's text for them (assembled with aarch64-linux-gnu-as). */
const FIXED: [number, string][] = [
  [0x39000001, 'strb w1, [x0]'],
  [0xdac01420, 'cls x0, x1'],
  [0x5ac00062, 'rbit w2, w3'],
  [0xdac00928, 'rev32 x8, x9'],
  [0x9bc27c20, 'umulh x0, x1, x2'],
  [0x9b2824e6, 'smaddl x6, w7, w8, x9'],
  [0x93c23020, 'extr x0, x1, x2, #12'],
  [0xfa451804, 'ccmp x0, #0x5, #0x4, ne'],
  [0x1a9f97e3, 'cset w3, hi'],
  [0x93442c20, 'sbfx x0, x1, #4, #8'],
  [0x33180c62, 'bfi w2, w3, #8, #4'],
  [0xd37d24a4, 'ubfiz x4, x5, #3, #10'],
  [0x8806fca7, 'stlxr w6, w7, [x5]'],
  [0x694107e0, 'ldpsw x0, x1, [sp, #8]'],
  [0x38dffc62, 'ldrsb w2, [x3, #-1]!'],
  [0x788024a4, 'ldrsh x4, [x5], #2'],
  [0x386bc949, 'ldrb w9, [x10, w11, sxtw]'],
  [0x9200f020, 'and x0, x1, #0x5555555555555555'],
  [0x12800020, 'mov w0, #0xfffffffe'],
  [0xd53b4200, 'mrs x0, nzcv'],
  [0xd50342ff, 'msr daifclr, #0x2'],
  [0xd4000002, 'hvc #0x0'],
  [0x00000000, 'udf #0'],
];

describe('disassemble', () => {
  it.each(FIXED.map(([word, text]) => [word.toString(16).padStart(8, '0'), text, word] as const))('%s is %s', (_hex, text, word) => expect(disassemble(word, 0x4000_0000n)).toBe(text));

  it('prints branch targets as objdump does', () => {
    expect(disassemble(0x54ffffc3, 0x4000_0024n)).toBe('b.cc 0x4000001c');
    expect(disassemble(0x94000010, 0x4000_0000n)).toBe('bl 0x40000040');
  });

  it.skipIf(!HAVE_OBJDUMP).each(['crc32.elf', 'exception.elf', 'mmu.elf', 'recurse.elf', 'sieve.elf', 'sort.elf'])('agrees with objdump on every instruction of %s', (file) => {
    compare(['-d', join(GUESTS, file)]);
  });

  // The flat binaries (linked at 0x40000000) have no mapping symbols: every word is compared.
  it.skipIf(!HAVE_OBJDUMP).each(['tiny_kernel.bin', 'echo.bin'])('agrees with objdump on every word of %s', (file) => {
    compare(['-D', '-b', 'binary', '-m', 'aarch64', '--adjust-vma=0x40000000', join(GUESTS, file)], 10);
  });
});

function compare(args: string[], minimum = 30): void {
  const out = spawnSync(OBJDUMP, args, { encoding: 'utf8' }).stdout;
  const diffs: string[] = [];
  let checked = 0;
  for (const line of out.split('\n')) {
    const m = /^ *([0-9a-f]+):\t([0-9a-f]{8}) \t(.*)$/.exec(line);
    if (!m || m[3]!.startsWith('.word')) continue;
    const want = m[3]!.replace(/\s*\/\/.*$/, '').replace(/\s*<.*>$/, '').replace(/\t/g, ' ').trim()
      // objdump prints a bare hex target when it has a symbol to annotate it with: we print 0x…
      .replace(/^((?:b|bl|b\.\w+|cbn?z|tbn?z|adrp?|ldr|ldrsw|prfm) (?:.*, )?)([0-9a-f]+)$/, '$10x$2');
    const got = disassemble(parseInt(m[2]!, 16), BigInt(`0x${m[1]}`));
    checked++;
    if (got !== want) diffs.push(`${m[1]}: ${m[2]} objdump "${want}", ours "${got}"`);
  }
  expect(checked).toBeGreaterThan(minimum);
  expect(diffs).toEqual([]);
}
