#!/usr/bin/env node
// Build the test guests (docs/guests.md):
//   guests/<name>.S   -> guests/<name>.bin       real-mode flat binaries (as + ld, loaded at 0)
//   guests/c/<name>.c -> guests/<name>-32.elf    C guests on the runtime in guests/c/rt: 32-bit
//                        guests/<name>-64.elf    multiboot ELF32 and/or 64-bit ELF64 (gcc + ld)
//   guests/c/<name>.S -> guests/<name>-32.elf    small assembly guests without the runtime
// Every bootable image lands in guests/, where goldens (traces/) pair with their guest by name.
// Each C or assembly guest says what to build in a comment line of its source:
//   guest: 32 64 console=0xe9      (word sizes; the runtime's console: 0xf1, 0xe9 or uart)
//   guest: 32 asm                  (assembly only, linked with rt/link32.ld)
//   guest: 32 64 cet               (C built with -fcf-protection=full: ENDBR at function entries)
// AArch64 guests (guests/arm64/README.md), built when aarch64-linux-gnu-gcc is installed:
//   guests/arm64/<name>.S   -> guests/arm64/<name>.bin  (`guest: bin`: flat, linked at 0x40000000)
//                              guests/arm64/<name>.elf  (`guest: elf`: linked with c/link.ld)
//   guests/arm64/c/<name>.c -> guests/arm64/<name>.elf  (with c/crt0.S and c/link.ld)
// Usage: node scripts/build-guests.mjs [name...]   (default: all; a name is e.g. echo, sieve or arm64/echo)
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const guestsDir = join(root, 'guests');
const cDir = join(guestsDir, 'c');
const rtDir = join(cDir, 'rt');

class BuildError extends Error {}

function run(tool, args) {
  const r = spawnSync(tool, args, { encoding: 'utf8' });
  if (r.error?.code === 'ENOENT') throw new BuildError(`'${tool}' not found; install ${tool.startsWith(A64) ? 'gcc-aarch64-linux-gnu and binutils-aarch64-linux-gnu' : tool === 'gcc' ? 'gcc (with 32-bit support: gcc-multilib)' : 'GNU binutils (as, ld)'}`);
  if (r.error) throw new BuildError(`${tool}: ${r.error.message}`);
  return r;
}

function check(r, what) {
  if (r.status !== 0) throw new BuildError(`${what}:\n${(r.stderr || r.stdout).trim()}`);
}

/** Moves a freshly built file into place atomically (copying across filesystems). */
function install(built, out) {
  try {
    renameSync(built, out);
  } catch (e) {
    if (e.code !== 'EXDEV') throw e;
    copyFileSync(built, `${out}.tmp`);
    renameSync(`${out}.tmp`, out);
  }
  console.log(`${relative(guestsDir, out).padEnd(20)} ${statSync(out).size} bytes`);
}

// ---- real-mode flat binaries --------------------------------------------------------------

function buildReal(name, tmp) {
  const obj = join(tmp, `${name}.o`);
  const bin = join(tmp, `${name}.bin`);
  // -I so that `.include "lib16.inc"` resolves next to the sources.
  check(run('as', ['--32', '-I', guestsDir, '-o', obj, join(guestsDir, `${name}.S`)]), `${name}.S failed to assemble`);
  check(run('ld', ['-m', 'elf_i386', '-Ttext=0', '-e', 'start', '--oformat=binary', '-o', bin, obj]), `${name}: link failed`);
  install(bin, join(guestsDir, `${name}.bin`));
}

// ---- C and assembly guests for protected and long mode ---------------------------------------

const CFLAGS = [
  '-std=gnu11', '-O2', '-Wall', '-Wextra', '-Werror',
  '-ffreestanding', '-nostdlib', '-fno-builtin', '-fno-tree-loop-distribute-patterns',
  '-fno-pic', '-fno-pie', '-fno-stack-protector', '-fcf-protection=none',
  '-mgeneral-regs-only', '-mno-sse', '-fno-asynchronous-unwind-tables', '-fno-unwind-tables', '-fno-ident',
];
const ARCH = {
  32: { cflags: ['-m32', '-march=i686'], as: '--32', ld: 'elf_i386' },
  64: { cflags: ['-m64', '-mno-red-zone', '-mcmodel=small'], as: '--64', ld: 'elf_x86_64' },
};
const RUNTIME_C = ['console.c', 'printf.c', 'lib.c', 'trap.c'];
const CONSOLES = { '0xf1': ['-DRT_CONSOLE_PORT=0xf1'], '0xe9': ['-DRT_CONSOLE_PORT=0xe9'], uart: ['-DRT_CONSOLE_UART=1'] };

/** The `guest:` line of a C or assembly guest: word sizes, console, assembly only. */
function guestSpec(file) {
  const line = /^\s*(?:\/\*|\*|\/\/|#)?\s*guest:\s*(.*?)\s*(?:\*\/)?$/m.exec(readFileSync(file, 'utf8'));
  if (!line) throw new BuildError(`${relative(root, file)} has no 'guest: 32 64 console=…' line`);
  const spec = { bits: [], console: '0xe9', asm: false, cet: false };
  for (const word of line[1].split(/\s+/)) {
    if (word === '32' || word === '64') spec.bits.push(Number(word));
    else if (word === 'asm') spec.asm = true;
    else if (word === 'cet') spec.cet = true;
    else if (word.startsWith('console=') && word.slice(8) in CONSOLES) spec.console = word.slice(8);
    else throw new BuildError(`${relative(root, file)}: unknown word '${word}' in its guest: line`);
  }
  if (!spec.bits.length) throw new BuildError(`${relative(root, file)}: its guest: line names no word size (32, 64)`);
  return spec;
}

function link(bits, objs, out) {
  const ld = ['-m', ARCH[bits].ld, '-T', join(rtDir, `link${bits}.ld`), '-nostdlib', '--build-id=none', '-z', 'max-page-size=0x1000', '-z', 'noexecstack', '-o', out, ...objs];
  check(run('ld', ld), `${basename(out)}: link failed`);
}

function buildC(name, tmp) {
  const src = join(cDir, `${name}.c`);
  const spec = guestSpec(src);
  for (const bits of spec.bits) {
    const dir = mkdtempSync(join(tmp, `${name}-${bits}-`));
    // the last -fcf-protection wins: `cet` guests override CFLAGS' none
    const flags = [...CFLAGS, ...ARCH[bits].cflags, ...CONSOLES[spec.console], ...(spec.cet ? ['-fcf-protection=full'] : []), '-I', cDir];
    const objs = [];
    for (const s of [`start${bits}.S`, `isr${bits}.S`]) {
      const obj = join(dir, `${basename(s, '.S')}.o`);
      check(run('as', [ARCH[bits].as, '-o', obj, join(rtDir, s)]), `rt/${s} failed to assemble`);
      objs.push(obj); // start code first: _start right behind the multiboot header
    }
    for (const s of [src, ...RUNTIME_C.map((f) => join(rtDir, f))]) {
      const obj = join(dir, `${basename(s, '.c')}.o`);
      check(run('gcc', [...flags, '-c', '-o', obj, s]), `${relative(root, s)} (${bits}-bit) failed to compile`);
      objs.push(obj);
    }
    const elf = join(dir, `${name}-${bits}.elf`);
    link(bits, objs, elf);
    install(elf, join(guestsDir, `${name}-${bits}.elf`));
  }
}

function buildAsm(name, tmp) {
  const src = join(cDir, `${name}.S`);
  const spec = guestSpec(src);
  for (const bits of spec.bits) {
    const obj = join(tmp, `${name}-${bits}.o`);
    const elf = join(tmp, `${name}-${bits}.elf`);
    check(run('as', [ARCH[bits].as, '-o', obj, src]), `c/${name}.S failed to assemble`);
    link(bits, [obj], elf);
    install(elf, join(guestsDir, `${name}-${bits}.elf`));
  }
}

// ---- AArch64 guests ---------------------------------------------------------------------------

const A64 = 'aarch64-linux-gnu-';
const a64Dir = join(guestsDir, 'arm64');
const a64CDir = join(a64Dir, 'c');
const A64_CFLAGS = [
  '-std=gnu11', '-O2', '-Wall', '-Wextra', '-Werror',
  '-ffreestanding', '-nostdlib', '-fno-builtin', '-fno-tree-loop-distribute-patterns',
  '-fno-pic', '-fno-pie', '-fno-stack-protector', '-mgeneral-regs-only',
  // with the MMU off all data accesses are Device memory, where an unaligned one faults
  '-mstrict-align',
  '-fno-asynchronous-unwind-tables', '-fno-unwind-tables', '-fno-ident',
];

function a64Link(objs, out) {
  const ld = ['-T', join(a64CDir, 'link.ld'), '-nostdlib', '--build-id=none', '-z', 'max-page-size=0x1000', '-z', 'noexecstack', '--no-warn-rwx-segments', '-o', out, ...objs];
  check(run(`${A64}ld`, ld), `${basename(out)}: link failed`);
}

/** An assembly guest's `guest: bin` or `guest: elf` line. */
function a64Kind(file) {
  const line = /^\s*\/\/\s*guest:\s*(\S+)\s*$/m.exec(readFileSync(file, 'utf8'));
  if (!line || (line[1] !== 'bin' && line[1] !== 'elf')) throw new BuildError(`${relative(root, file)} has no '// guest: bin' or '// guest: elf' line`);
  return line[1];
}

function buildA64Asm(name, tmp) {
  const src = join(a64Dir, `${name}.S`);
  const kind = a64Kind(src);
  const obj = join(tmp, `${name}.o`);
  const elf = join(tmp, `${name}.elf`);
  // gcc, not as: the C preprocessor resolves `#include "uart.inc"` next to the source
  check(run(`${A64}gcc`, ['-c', '-o', obj, src]), `arm64/${name}.S failed to assemble`);
  if (kind === 'elf') {
    a64Link([obj], elf);
    install(elf, join(a64Dir, `${name}.elf`));
    return;
  }
  check(run(`${A64}ld`, ['-Ttext=0x40000000', '-e', '_start', '--build-id=none', '-o', elf, obj]), `arm64/${name}: link failed`);
  const bin = join(tmp, `${name}.bin`);
  check(run(`${A64}objcopy`, ['-O', 'binary', elf, bin]), `arm64/${name}: objcopy failed`);
  install(bin, join(a64Dir, `${name}.bin`));
}

function buildA64C(name, tmp) {
  const dir = mkdtempSync(join(tmp, `arm64-${name}-`));
  const crt0 = join(dir, 'crt0.o');
  const obj = join(dir, `${name}.o`);
  check(run(`${A64}gcc`, ['-c', '-o', crt0, join(a64CDir, 'crt0.S')]), 'arm64/c/crt0.S failed to assemble');
  check(run(`${A64}gcc`, [...A64_CFLAGS, '-I', a64CDir, '-c', '-o', obj, join(a64CDir, `${name}.c`)]), `arm64/c/${name}.c failed to compile`);
  const elf = join(dir, `${name}.elf`);
  a64Link([crt0, obj], elf); // crt0 first: _start at 0x40000000
  install(elf, join(a64Dir, `${name}.elf`));
}

const hasTool = (tool) => spawnSync(tool, ['--version']).error?.code !== 'ENOENT';

// ---- main -------------------------------------------------------------------------------------

function main(args) {
  const list = (dir, ext) => readdirSync(dir).filter((f) => f.endsWith(ext)).map((f) => basename(f, ext)).sort();
  const real = list(guestsDir, '.S');
  const cGuests = list(cDir, '.c');
  const asmGuests = list(cDir, '.S');
  const a64Asm = list(a64Dir, '.S').map((n) => `arm64/${n}`);
  const a64C = list(a64CDir, '.c').map((n) => `arm64/${n}`);
  const x86 = [...real, ...cGuests, ...asmGuests];
  const all = [...x86, ...a64Asm, ...a64C];
  const names = args.map((a) => (/(^|\/)arm64\//.test(a) ? 'arm64/' : '') + basename(a).replace(/(-(32|64)\.elf|\.(S|c|bin|elf))$/, ''));
  for (const n of names) if (!all.includes(n)) throw new BuildError(`no such guest: ${n} (guests/*.S, guests/c/*.c, guests/c/*.S, arm64/<name>)`);
  const want = (n) => names.length === 0 || names.includes(n);
  if (x86.some(want)) {
    run('as', ['--version']);
    run('ld', ['--version']);
  }
  if (cGuests.some(want)) run('gcc', ['--version']);
  let arm64 = [...a64Asm, ...a64C].some(want);
  if (arm64 && !hasTool(`${A64}gcc`)) {
    if (names.length) run(`${A64}gcc`, ['--version']); // asked for by name: the missing tool is an error
    console.log(`skipping guests/arm64: ${A64}gcc not found (Debian: apt-get install gcc-aarch64-linux-gnu)`);
    arm64 = false;
  }
  const tmp = mkdtempSync(join(tmpdir(), 'vmtrace-guests-'));
  try {
    for (const n of real.filter(want)) buildReal(n, tmp);
    for (const n of cGuests.filter(want)) buildC(n, tmp);
    for (const n of asmGuests.filter(want)) buildAsm(n, tmp);
    if (arm64) {
      for (const n of a64Asm.filter(want)) buildA64Asm(n.slice(6), tmp);
      for (const n of a64C.filter(want)) buildA64C(n.slice(6), tmp);
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

try {
  main(process.argv.slice(2));
} catch (e) {
  if (!(e instanceof BuildError)) throw e;
  console.error(`build-guests: ${e.message}`);
  process.exitCode = 1;
}
