#!/usr/bin/env node
// `npm run test:arm64`: records aarch64 guests under real arm64 KVM inside an emulated arm64
// Linux (QEMU TCG with virtualization=on: nested KVM) on any Linux host, then checks the traces
// here. Steps: scripts/arm64/env.sh (tools, kernel, busybox, Node arm64; cached), the addon
// cross-built (build-addon.sh), the built project packed into an initramfs, one boot running
// `vmtrace record` on the guests, traces out on the console as base64, decoded into --out.
//
// usage: node scripts/arm64/test.mjs [--out DIR] [--guests DIR] [--update-goldens] [--timeout SECONDS]
// (run `npm run build` first: the VM runs dist/). docs/arm64.md says what is checked.
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, appendFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const FIXTURES = join(ROOT, 'test', 'arch', 'aarch64', 'record', 'fixtures');
const GOLDENS = join(ROOT, 'traces', 'arm64');
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const OUT = resolve(opt('--out', join(ROOT, 'build-arm64', 'out')));
const UPDATE_GOLDENS = args.includes('--update-goldens');
const VM_TIMEOUT_S = Number(opt('--timeout', '240'));

const t0 = performance.now();
const stamp = () => `[${((performance.now() - t0) / 1000).toFixed(1).padStart(5)}s]`;
const say = (msg) => process.stderr.write(`test:arm64 ${stamp()} ${msg}\n`);
const die = (msg) => {
  process.stderr.write(`test:arm64: FAILED: ${msg}\n`);
  process.exit(1);
};

/** Runs a command to completion (bounded), returning stdout; fails the test with its stderr's gist. */
function sh(cmd, argv, { timeoutS = 600, what = cmd } = {}) {
  const r = spawnSync(cmd, argv, { cwd: ROOT, encoding: 'utf8', timeout: timeoutS * 1000, maxBuffer: 64 << 20 });
  if (r.error) die(`${what}: ${r.error.code === 'ETIMEDOUT' ? `timed out after ${timeoutS} s` : r.error.message}`);
  if (r.status !== 0) die(`${what} failed (exit ${r.status}): ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}`);
  return r.stdout;
}

if (!existsSync(join(ROOT, 'dist', 'cli.js'))) die('dist/ is missing: run `npm run build` first');

// 1. Tools, kernel, busybox, Node arm64.
say('preparing the environment (scripts/arm64/env.sh)');
const env = Object.fromEntries(
  sh('bash', [join(ROOT, 'scripts/arm64/env.sh')], { what: 'scripts/arm64/env.sh' })
    .trim()
    .split('\n')
    .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
);
say(`kernel ${env.KERNEL_PACKAGE}, node ${process.version} arm64`);

// 2. The addon for arm64.
say('cross-building the addon (scripts/arm64/build-addon.sh)');
const addon = join(ROOT, sh('bash', [join(ROOT, 'scripts/arm64/build-addon.sh')], { what: 'scripts/arm64/build-addon.sh' }).trim());

// 3. Guests: the fixtures (assembled here) and whatever guests/arm64/ holds.
const work = mkdtempSync(join(tmpdir(), 'vmtrace-arm64-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));
const stage = join(work, 'root');
const app = join(stage, 'opt', 'vmtrace');
mkdirSync(join(app, 'fixtures'), { recursive: true });
for (const f of readdirSync(FIXTURES).filter((n) => n.endsWith('.S'))) {
  const name = basename(f, '.S');
  const obj = join(work, `${name}.o`);
  sh('aarch64-linux-gnu-as', [join(FIXTURES, f), '-o', obj], { what: `assembling ${f}` });
  sh('aarch64-linux-gnu-objcopy', ['-O', 'binary', obj, join(app, 'fixtures', `${name}.bin`)], { what: `objcopy ${f}` });
  if (name === 'hello') sh('aarch64-linux-gnu-ld', ['-N', '-Ttext=0x40000000', '--no-warn-rwx-segments', '-e', '_start', '-o', join(app, 'fixtures', 'hello.elf'), obj], { what: 'linking hello.elf' });
}
const guestDir = resolve(opt('--guests', join(ROOT, 'guests', 'arm64')));
const guests = existsSync(guestDir) ? readdirSync(guestDir).filter((n) => /\.(bin|elf)$/.test(n)).sort() : [];
say(`guests/arm64: ${guests.length ? guests.join(' ') : '(none yet: fixtures only)'}`);

// 4. The jobs the VM runs: name, vmtrace arguments, input bytes.
const jobs = [];
const record = (name, image, extra = [], input, prefix = '') => jobs.push({ name, image, extra, input, prefix });
for (const g of guests) {
  const name = g.replace(/\.(bin|elf)$/, '');
  // Guests that read the console (echo) get a line; the others ignore it.
  record(name, `guests/arm64/${g}`, [], 'hello arm64');
  if (name === 'tiny_kernel') record(`${name}.step`, `guests/arm64/${g}`, ['--step']);
}
// The hello fixture stands in for tiny_kernel (and the ELF guests) until guests/arm64 has them;
// its --step run always goes (an MMIO read under single-step, one record per instruction).
const haveTiny = guests.includes('tiny_kernel.bin');
if (!haveTiny) {
  record('fixture-hello', 'fixtures/hello.bin');
  record('fixture-hello-elf', 'fixtures/hello.elf');
}
record('fixture-hello.step', 'fixtures/hello.bin', ['--step']);
record('fixture-echo', 'fixtures/echo.bin', [], 'abc');
record('fixture-nisv', 'fixtures/nisv.bin');
record('fixture-spin', 'fixtures/spin.bin', ['--timeout', '2']);
// SIGINT well after Node has started (4-6 s under emulation): a clean stop, exit 130.
record('fixture-spin-sigint', 'fixtures/spin.bin', [], undefined, 'timeout -s INT 10');

// 5. The initramfs overlay: the built project (JS only), its runtime modules, Node, glibc.
say('packing the project into the initramfs');
cpSync(join(ROOT, 'dist'), join(app, 'dist'), { recursive: true, filter: (s) => !s.endsWith('.map') && !s.endsWith('.d.ts') });
cpSync(join(ROOT, 'package.json'), join(app, 'package.json'));
for (const m of ['msgpackr', 'commander']) cpSync(join(ROOT, 'node_modules', m), join(app, 'node_modules', m), { recursive: true });
mkdirSync(join(app, 'build', 'Release'), { recursive: true });
copyFileSync(addon, join(app, 'build', 'Release', 'vmtrace_kvm.node'));
mkdirSync(join(app, 'scripts', 'arm64'), { recursive: true });
copyFileSync(join(ROOT, 'scripts/arm64/measure.mjs'), join(app, 'scripts/arm64/measure.mjs'));
if (guests.length) cpSync(guestDir, join(app, 'guests', 'arm64'), { recursive: true, filter: (s) => statSync(s).isDirectory() || /\.(bin|elf)$/.test(s) });
mkdirSync(join(stage, 'opt', 'node', 'bin'), { recursive: true });
copyFileSync(env.NODE_ARM64, join(stage, 'opt', 'node', 'bin', 'node'));
mkdirSync(join(stage, 'lib'), { recursive: true });
for (const l of ['ld-linux-aarch64.so.1', 'libc.so.6', 'libm.so.6', 'libstdc++.so.6', 'libgcc_s.so.1', 'libdl.so.2', 'libpthread.so.0']) {
  copyFileSync(join('/usr/aarch64-linux-gnu/lib', l), join(stage, 'lib', l));
}
// Recordings run two at a time (the VM has 2 vCPUs; most of each is Node starting up under
// emulation); their output is printed after both ended, so the console never interleaves.
const PARALLEL = 2;
const lines = [
  'cd /opt/vmtrace',
  'up() { cut -d" " -f1 /proc/uptime; }',
  // stdout and stderr are files, not the console: vmtrace's progress line stays off.
  'job() { n=$1; shift; a=$(up); "$@" >/tmp/$n.out 2>&1 </tmp/$n.in; echo "$? $a $(up)" >/tmp/$n.rc; }',
  'show() { echo "@@RUN $1"; cat /tmp/$1.out; echo "@@RC $1 $(cat /tmp/$1.rc)"; }',
  'put() { [ -f "$2" ] || return 0; echo "@@FILE $1"; base64 "$2"; echo "@@END $1"; }',
  'echo "@@KVM $(ls -l /dev/kvm 2>&1)"',
  ': >/tmp/measure.in',
  'job measure node scripts/arm64/measure.mjs fixtures/hello.bin; show measure',
];
for (let i = 0; i < jobs.length; i += PARALLEL) {
  const batch = jobs.slice(i, i + PARALLEL);
  for (const j of batch) {
    lines.push(j.input ? `printf '%s' '${j.input}' >/tmp/${j.name}.in` : `: >/tmp/${j.name}.in`);
    const input = j.input ? ['--input', `/tmp/${j.name}.in`] : [];
    const cmd = `${j.prefix}${j.prefix ? ' ' : ''}node dist/cli.js record ${j.image} -o /tmp/${j.name}.vmtrace --no-timestamps --timeout 60 ${[...input, ...j.extra].join(' ')}`;
    lines.push(`job ${j.name} ${cmd} &`);
  }
  lines.push('wait');
  for (const j of batch) lines.push(`show ${j.name}; put ${j.name}.vmtrace /tmp/${j.name}.vmtrace`);
}
writeFileSync(join(stage, 'cmd.sh'), lines.join('\n') + '\n');

const initrd = join(work, 'initrd');
copyFileSync(env.BASE_INITRD, initrd);
// The overlay goes in uncompressed (gunzip under emulation costs more than a bigger file).
const pad = (512 - (statSync(initrd).size % 512)) % 512;
appendFileSync(initrd, Buffer.alloc(pad));
const list = sh('sh', ['-c', `cd "${stage}" && find .`], { what: 'find' });
const cpio = spawnSync('cpio', ['-o', '-H', 'newc', '--quiet'], { cwd: stage, input: list, maxBuffer: 1 << 30 });
if (cpio.status !== 0) die(`cpio failed: ${cpio.stderr}`);
appendFileSync(initrd, cpio.stdout);
say(`initramfs ${(statSync(initrd).size / 1048576).toFixed(0)} MiB, ${jobs.length + 1} jobs`);

// 6. Boot and run. The console is the only way out (the cloud kernel has no 9p).
say('booting the arm64 VM (qemu-system-aarch64, TCG, virtualization=on)');
const consoleLog = join(OUT, 'console.log');
rmSync(OUT, { recursive: true, force: true });
mkdirSync(OUT, { recursive: true });
const bootStart = performance.now();
const text = await new Promise((done) => {
  const q = spawn(
    'qemu-system-aarch64',
    ['-machine', 'virt,virtualization=on,gic-version=3', '-cpu', 'max,pauth-impdef=on', '-accel', 'tcg,thread=multi', '-smp', '2', '-m', '2048',
      '-nographic', '-no-reboot', '-nic', 'none', '-kernel', env.KERNEL, '-initrd', initrd,
      '-append', 'console=ttyAMA0 rdinit=/init panic=-1 quiet loglevel=3'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let booted = false;
  const timer = setTimeout(() => {
    say(`the VM did not finish within ${VM_TIMEOUT_S} s: stopping it`);
    q.kill('SIGKILL');
  }, VM_TIMEOUT_S * 1000);
  q.stdout.on('data', (d) => {
    out += d;
    const up = !booted && /VMTRACE-ARM64-BOOTED (\S+)\r?\n/.exec(out);
    if (up) {
      booted = true;
      say(`booted (guest kernel uptime ${up[1]} s, ${((performance.now() - bootStart) / 1000).toFixed(1)} s wall)`);
    }
  });
  q.stderr.on('data', (d) => (out += d));
  q.on('error', (e) => {
    clearTimeout(timer);
    out += `\nqemu failed to start: ${e.message}\n`;
    done(out);
  });
  q.on('close', () => {
    clearTimeout(timer);
    done(out);
  });
});
writeFileSync(consoleLog, text);
const vmSeconds = (performance.now() - bootStart) / 1000;
const exit = /VMTRACE-ARM64-EXIT=(\d+)/.exec(text);
if (!exit) die(`the VM ended without finishing its commands (see ${consoleLog}): ${text.trim().split('\n').slice(-3).join(' | ')}`);
say(`VM done in ${vmSeconds.toFixed(1)} s`);

// 7. Decode: runs (console output, exit code, time) and trace files.
const clean = text.replace(/\r/g, '');
const runs = new Map();
for (const m of clean.matchAll(/^@@RUN (\S+)\n([\s\S]*?)^@@RC \1 (\d+) (\S+) (\S+)$/gm)) {
  runs.set(m[1], { output: m[2], rc: Number(m[3]), seconds: Number(m[5]) - Number(m[4]) });
}
for (const m of clean.matchAll(/^@@FILE (\S+)\n([\s\S]*?)^@@END \1$/gm)) writeFileSync(join(OUT, m[1]), Buffer.from(m[2].replace(/\s+/g, ''), 'base64'));
say(`/dev/kvm in the VM: ${/@@KVM (.*)/.exec(clean)?.[1] ?? '?'}`);
for (const [name, r] of runs) say(`  ${name.padEnd(22)} exit ${r.rc}  ${r.seconds.toFixed(2)} s  ${r.output.trim().split('\n').filter((l) => l.startsWith('vmtrace:')).pop() ?? ''}`);
const measure = runs.get('measure');
if (measure) writeFileSync(join(OUT, 'measure.json'), measure.output);

// 8. Checks.
const { readTrace } = await import(join(ROOT, 'dist', 'trace', 'reader.js'));
const failures = [];
let checks = 0;
const check = (ok, what) => {
  checks++;
  if (!ok) failures.push(what);
  return ok;
};
const HELLO = 'Hello,world\n';

/** A hello-world trace: the 12 UARTDR writes in order, nothing else written, ending at PSCI SYSTEM_OFF. */
async function checkHello(name, { step }) {
  const r = runs.get(name);
  if (!check(r, `${name}: no result from the VM`)) return;
  check(r.output.includes('Hello,world'), `${name}: console does not say Hello,world`);
  check(r.rc === 0, `${name}: vmtrace record exited ${r.rc}`);
  const file = join(OUT, `${name}.vmtrace`);
  if (!check(existsSync(file), `${name}: no trace came out`)) return;
  let t;
  try {
    t = await readTrace(file);
  } catch (e) {
    check(false, `${name}: the trace cannot be read here: ${e.message}`);
    return;
  }
  check(t.header.arch === 'aarch64', `${name}: header arch is ${t.header.arch}`);
  const writes = t.records.filter((x) => x.mmio?.write);
  check(writes.length === 12, `${name}: ${writes.length} MMIO writes, expected 12`);
  check(writes.every((x) => x.mmio.address === 0x09000000 && x.mmio.length === 1), `${name}: MMIO writes not all single bytes to 0x09000000`);
  const bytes = Buffer.from(writes.map((x) => x.mmio.data[0])).toString('latin1');
  check(bytes === HELLO, `${name}: UART bytes ${JSON.stringify(bytes)}`);
  const last = t.records[t.records.length - 1];
  check(last?.reason === 24 && last.detail?.type === 1, `${name}: last record is ${last?.reasonName} ${JSON.stringify(last?.detail)}, expected SYSTEM_EVENT type 1`);
  check(t.footer?.endReason === 'shutdown', `${name}: footer ${t.footer?.endReason}: ${t.footer?.message}`);
  check(t.records.every((x, i) => i === 0 || x.regsBytes.length === 280), `${name}: records without 280 register bytes`);
  // Each UART write needs at least one instruction before it that makes no exit: a plain trace
  // has fewer records than that, a --step trace (one record per instruction) more.
  const steps = t.records.filter((x) => x.kind === 'step').length;
  if (step) check(steps > 0 && t.records.length >= 2 * writes.length, `${name}: --step trace has ${t.records.length} records (${steps} steps) for ${writes.length} UART writes`);
  else check(steps === 0 && t.records.length < 2 * writes.length, `${name}: plain trace has ${t.records.length} records (${steps} steps)`);
  return t;
}

const tinyNames = guests.includes('tiny_kernel.bin') ? ['tiny_kernel', 'tiny_kernel.step'] : [];
for (const n of tinyNames) await checkHello(n, { step: n.endsWith('.step') });
/** The guest's console output: the run's output less vmtrace's own lines. */
const consoleOf = (name) => runs.get(name)?.output.split('\n').filter((l) => !l.startsWith('vmtrace:')).join('\n');
for (const [plain, stepped] of [['tiny_kernel', 'tiny_kernel.step'], ['fixture-hello', 'fixture-hello.step'], ['tiny_kernel', 'fixture-hello.step']]) {
  if (runs.has(plain) && runs.has(stepped)) check(consoleOf(plain) === consoleOf(stepped), `${stepped}: console differs from ${plain}'s`);
}
if (!haveTiny) {
  await checkHello('fixture-hello', { step: false });
  await checkHello('fixture-hello-elf', { step: false });
}
const step = await checkHello('fixture-hello.step', { step: true });
// hello.S runs 57 instructions: mov, adr, ldr, tbnz, 12 x (ldrb, cbz, strb, b), ldrb, cbz, mov, movk, hvc.
if (step) check(step.records.length === 57, `fixture-hello.step: ${step.records.length} records, expected one per instruction (57)`);
{
  const r = runs.get('fixture-echo');
  if (check(r, 'fixture-echo: no result')) {
    check(r.output.startsWith('abc'), `fixture-echo: console ${JSON.stringify(r.output.slice(0, 20))}, expected the input 'abc' echoed`);
    check(r.rc === 3, `fixture-echo: exit ${r.rc}, expected 3 (the exit register)`);
    if (existsSync(join(OUT, 'fixture-echo.vmtrace'))) {
      const t = await readTrace(join(OUT, 'fixture-echo.vmtrace'));
      check(t.footer?.endReason === 'guest-exit' && t.footer.status === 3, `fixture-echo: footer ${t.footer?.endReason} status ${t.footer?.status}`);
    }
  }
}
{
  const r = runs.get('fixture-nisv');
  if (check(r, 'fixture-nisv: no result')) {
    check(/PC 0x40000008.*writeback/.test(r.output), `fixture-nisv: message does not name PC 0x40000008 and writeback: ${r.output.trim().split('\n').pop()}`);
    if (existsSync(join(OUT, 'fixture-nisv.vmtrace'))) {
      const t = await readTrace(join(OUT, 'fixture-nisv.vmtrace'));
      const last = t.records[t.records.length - 1];
      check(last?.reason === 28 && last.detail?.faultIpa === 0x09000000, `fixture-nisv: last record ${last?.reasonName} ${JSON.stringify(last?.detail)}`);
    }
  }
}
{
  const r = runs.get('fixture-spin');
  if (check(r, 'fixture-spin: no result')) {
    check(r.rc === 4 && /stopped by --timeout/.test(r.output), `fixture-spin: exit ${r.rc}, expected 4 (--timeout): ${r.output.trim().split('\n').pop()}`);
  }
}
{
  const r = runs.get('fixture-spin-sigint');
  if (check(r, 'fixture-spin-sigint: no result') && check(r.rc === 130, `fixture-spin-sigint: exit ${r.rc}, expected 130 (SIGINT): ${r.output.trim().split('\n').pop()}`)) {
    const t = await readTrace(join(OUT, 'fixture-spin-sigint.vmtrace'));
    check(t.footer?.endReason === 'interrupted', `fixture-spin-sigint: footer ${t.footer?.endReason}`);
  }
}
for (const g of guests) {
  const name = g.replace(/\.(bin|elf)$/, '');
  const r = runs.get(name);
  check(r && r.rc !== 1 && existsSync(join(OUT, `${name}.vmtrace`)), `${name}: vmtrace record exited ${r?.rc}: ${r?.output.trim().split('\n').pop()}`);
}

// Every trace that came out passes `vmtrace verify` here (checksums, fields, sequence, counts).
{
  const files = readdirSync(OUT).filter((n) => n.endsWith('.vmtrace')).map((n) => join(OUT, n));
  const v = spawnSync(process.execPath, [join(ROOT, 'dist', 'cli.js'), 'verify', ...files], { encoding: 'utf8', timeout: 120_000 });
  check(v.status === 0, `vmtrace verify failed (exit ${v.status}): ${(v.stderr || v.stdout).trim().split('\n').slice(-2).join(' | ')}`);
}

// Every trace replays here, on x86, in the A64 interpreter, with zero divergences; the fresh
// recordings match the committed goldens record for record (vmtrace diff; host facts aside).
{
  const cli = (...argv) => spawnSync(process.execPath, [join(ROOT, 'dist', 'cli.js'), ...argv], { encoding: 'utf8', timeout: 120_000 });
  for (const n of readdirSync(OUT).filter((n) => n.endsWith('.vmtrace'))) {
    // (its exit status is the guest's own for a run ended by the exit register: --json says whether it matched)
    const r = cli('replay', '--json', join(OUT, n));
    let ok = false;
    try {
      ok = JSON.parse(r.stdout).ok === true;
    } catch {}
    check(ok, `${n}: vmtrace replay did not match (exit ${r.status}): ${(r.stderr || r.stdout).trim().split('\n').slice(-1)[0]}`);
    const golden = join(GOLDENS, n);
    if (!UPDATE_GOLDENS && existsSync(golden)) {
      const d = cli('diff', golden, join(OUT, n));
      check(d.status === 0, `${n}: differs from its golden traces/arm64/${n} (vmtrace diff exit ${d.status}): ${(d.stdout || d.stderr).trim().split('\n').slice(0, 3).join(' | ')}`);
    }
  }
}

if (UPDATE_GOLDENS && failures.length === 0) {
  mkdirSync(GOLDENS, { recursive: true });
  const names = [...guests.map((g) => g.replace(/\.(bin|elf)$/, '')), ...tinyNames.filter((n) => n.endsWith('.step'))];
  for (const n of names) if (existsSync(join(OUT, `${n}.vmtrace`))) copyFileSync(join(OUT, `${n}.vmtrace`), join(GOLDENS, `${n}.vmtrace`));
  say(`goldens updated in traces/arm64/ (${names.join(', ')})`);
}
say(`total ${((performance.now() - t0) / 1000).toFixed(1)} s (VM ${vmSeconds.toFixed(1)} s); traces and console in ${OUT}`);
if (failures.length) die(`${failures.length} of ${checks} checks:\n  ${failures.join('\n  ')}`);
console.log(`test:arm64: ${checks} passed, 0 failed`);
