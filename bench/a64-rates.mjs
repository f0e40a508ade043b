// The AArch64 half of bench:replay: instructions/s of the A64 interpreter on the arm64 goldens
// (traces/arm64/), whole replay and marginal, printed beside the x86 table by bench/replay.mjs.
//   replay  whole replayTrace() of the golden (median of runs after one warm-up);
//   interp  an A64Cpu set up from the golden's header runs the guest from its boot state to its
//           end (the exit register or PSCI SYSTEM_OFF), MMIO reads answered with zeros; only
//           cpu.run() is timed, median of runs.
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const GUESTS = ['sieve', 'sort', 'crc32', 'recurse'];

export async function a64Rates(root, runs) {
  const { replayTrace } = await import(join(root, 'dist', 'replay', 'engine.js'));
  const { openTrace } = await import(join(root, 'dist', 'trace', 'reader.js'));
  const { loadMemory } = await import(join(root, 'dist', 'boot', 'memory.js'));
  const { A64Cpu } = await import(join(root, 'dist', 'arch', 'aarch64', 'interp', 'index.js'));
  const { a64RegsToBytes, a64SysregsToBytes } = await import(join(root, 'dist', 'arch', 'aarch64', 'state.js'));
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const rows = [];
  for (const name of GUESTS) {
    const file = join(root, 'traces', 'arm64', `${name}.vmtrace`);
    if (!existsSync(file)) continue;
    const t = await openTrace(file);
    const header = t.header;
    await t.close();
    const replays = [];
    let instructions = 0;
    for (let i = 0; i <= runs; i++) {
      const t0 = performance.now();
      const r = await replayTrace(file);
      if (!r.ok) throw new Error(`${file} does not replay: ${r.divergence?.message}`);
      if (i > 0) replays.push((performance.now() - t0) / 1e3);
      instructions = r.instructions;
    }
    const marginal = [];
    for (let i = 0; i <= runs; i++) {
      const ram = header.memory.map((m) => ({ base: m.base, bytes: new Uint8Array(m.size) }));
      loadMemory(ram, header.initialMemory);
      const cpu = new A64Cpu(ram);
      cpu.setRegsBytes(a64RegsToBytes(header.boot.regs));
      cpu.setSysregsBytes(a64SysregsToBytes(header.boot.sregs));
      let elapsed = 0;
      for (;;) {
        const t0 = performance.now();
        const stop = cpu.run(1e9);
        elapsed += performance.now() - t0;
        if (stop.kind !== 'mmio' || stop.address === 0x0910_0000) break;
        cpu.completeMmio(stop.write ? undefined : new Uint8Array(stop.length));
      }
      if (i > 0) marginal.push(cpu.instructions / (elapsed / 1e3));
    }
    rows.push({ name: `${name} (arm64 C)`, instructions, replay: instructions / median(replays), interp: median(marginal) });
  }
  return rows;
}
