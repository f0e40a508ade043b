#!/usr/bin/env node
// Runs inside the emulated arm64 Linux (scripts/arm64/test.mjs): measures what docs/arm64.md
// states about arm64 KVM, with the project's own addon and machine setup, on a guest like
// test/arch/aarch64/record/fixtures/hello.S. Prints one JSON object.
// usage: node measure.mjs GUEST.bin
import { readFileSync } from 'node:fs';

import { planA64Boot } from '../../dist/arch/aarch64/boot.js';
import { createA64Machine } from '../../dist/arch/aarch64/record/machine.js';
import { a64RegsFromBytes, a64SysregsFromBytes } from '../../dist/arch/aarch64/state.js';

const EINTR = 4;
const EXIT = { DEBUG: 4, MMIO: 6, SYSTEM_EVENT: 24 };
const hex = (v) => '0x' + BigInt(v).toString(16);
const image = readFileSync(process.argv[2]);

function machine() {
  const m = createA64Machine(planA64Boot({ image, imageName: 'measure' }));
  const L = m.addon.runLayout;
  const run = new DataView(m.vcpu.runBuffer());
  const regs = () => a64RegsFromBytes(m.regs);
  const exit = () => ({ reason: run.getUint32(L.exitReason, true), write: run.getUint8(L.mmioIsWrite) !== 0, address: Number(run.getBigUint64(L.mmioPhysAddr, true)) });
  return { m, L, run, regs, exit };
}

const out = {};
// 1. The boot state as KVM reads it back (SCTLR_EL1 was set to 0x30d00800).
{
  const { m } = machine();
  const s = a64SysregsFromBytes(m.boot.sysregsBytes);
  const r = a64RegsFromBytes(m.boot.regsBytes);
  out.boot = { sctlr_el1: hex(s.sctlr_el1), pstate: hex(r.pstate), pc: hex(r.pc), sp_el1: hex(r.sp_el1), target: m.target };
}
// 2. An MMIO read: PC before and after completion, the loaded register; then the write exits
// and the SYSTEM_EVENT.
{
  const { m, L, run, regs, exit } = machine();
  const v = m.vcpu;
  const seen = [];
  const t = { run: 0, complete: 0, read: 0, exits: 0 };
  for (let i = 0; i < 40; i++) {
    let a = performance.now();
    const err = v.run();
    t.run += performance.now() - a;
    if (err === EINTR) continue;
    t.exits++;
    const e = exit();
    a = performance.now();
    v.readState(true);
    t.read += performance.now() - a;
    const before = regs();
    if (e.reason === EXIT.MMIO) {
      if (!e.write) new Uint8Array(run.buffer).set([0x90, 0, 0, 0], L.mmioData); // UARTFR: TXFE | RXFE
      a = performance.now();
      const cerr = v.complete();
      t.complete += performance.now() - a;
      v.readState(true);
      const after = regs();
      if (seen.length < 3) seen.push({ mmio: e.write ? 'write' : 'read', address: hex(e.address), pcAtExit: hex(before.pc), completeErrno: cerr, pcAfterComplete: hex(after.pc), x3After: hex(after.x3), x1: hex(after.x1) });
    } else {
      seen.push({ reason: e.reason, pc: hex(before.pc), x0: hex(before.x0), type: run.getUint32(L.systemEventType, true), ndata: run.getUint32(L.systemEventNdata, true), data0: hex(run.getBigUint64(L.systemEventData, true)) });
      break;
    }
  }
  out.plain = seen;
  out.costMs = { perRun: +(t.run / t.exits).toFixed(3), perComplete: +(t.complete / (t.exits - 1)).toFixed(3), per48RegReads: +(t.read / t.exits).toFixed(3), exits: t.exits };
}
// 3. Single-step: PC and ESR of each exit around the MMIO read and the hvc.
{
  const { m, L, run, regs, exit } = machine();
  const v = m.vcpu;
  v.setGuestDebug(0x1 | 0x2);
  const seen = [];
  for (let i = 0; i < 200 && seen.length < 200; i++) {
    const err = v.run();
    if (err === EINTR) continue;
    const e = exit();
    v.readState(false);
    const r = regs();
    const item = { reason: e.reason, pc: hex(r.pc) };
    if (e.reason === EXIT.DEBUG) item.esr = hex(run.getUint32(L.debugHsr, true));
    if (e.reason === EXIT.MMIO) {
      item.mmio = e.write ? 'write' : 'read';
      if (!e.write) new Uint8Array(run.buffer).set([0x90, 0, 0, 0], L.mmioData);
      item.completeErrno = v.complete();
      v.readState(false);
      item.pcAfterComplete = hex(regs().pc);
    }
    if (e.reason === EXIT.SYSTEM_EVENT) item.x0 = hex(r.x0);
    seen.push(item);
    if (e.reason === EXIT.SYSTEM_EVENT) break;
  }
  // The first MMIO read with its neighbours, and the end.
  const k = seen.findIndex((s) => s.mmio);
  out.step = { total: seen.length, aroundFirstMmio: seen.slice(Math.max(0, k - 1), k + 3), last: seen.slice(-4) };
}
console.log(JSON.stringify(out));
