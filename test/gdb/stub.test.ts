import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

import { escapeBinary } from '../../src/replay/gdb/packets.js';
import { LAYOUTS } from '../../src/replay/gdb/registers.js';
import { DIVERGENCE_SIGNAL, GdbStub, type After, type StubIo } from '../../src/replay/gdb/stub.js';
import type { TraceHeader } from '../../src/trace/format.js';
import { openTrace } from '../../src/trace/reader.js';
import { ROOT } from '../support/record.js';
import { CODE, FakeTarget, ripAt, type FakeScript } from './fake-target.js';

let header: TraceHeader;
beforeAll(async () => {
  const t = await openTrace(join(ROOT, 'traces', 'sieve-32.vmtrace'));
  header = t.header;
  await t.close();
});

/** The stub over a fake target, with what it sent gdb. */
class Harness implements StubIo {
  readonly sent: string[] = [];
  acks = true;
  interrupt = false;
  readonly target: FakeTarget;
  readonly stub: GdbStub;

  constructor(script: Partial<FakeScript> = {}) {
    this.target = new FakeTarget(header, { length: 100, ...script });
    this.stub = new GdbStub(this.target, this, { trace: 'fake.vmtrace', reconnect: 'target remote 127.0.0.1:1234' });
  }

  send(payload: string | Uint8Array): void {
    this.sent.push(Buffer.from(payload).toString('latin1'));
  }
  noAck(): void {
    this.acks = false;
  }
  interrupted(): boolean {
    return this.interrupt;
  }
  clearInterrupt(): void {
    this.interrupt = false;
  }

  /** Every packet the stub sent in answer to `packet`. */
  async all(packet: string | Buffer): Promise<{ replies: string[]; after: After }> {
    const from = this.sent.length;
    const after = await this.stub.handle(typeof packet === 'string' ? Buffer.from(packet, 'latin1') : packet);
    return { replies: this.sent.slice(from), after };
  }

  /** The last packet sent in answer to `packet` (console O packets come before it). */
  async ask(packet: string | Buffer): Promise<string> {
    return (await this.all(packet)).replies.at(-1)!;
  }

  /** The text of the O packets sent in answer to `packet`. */
  async console(packet: string): Promise<string> {
    const { replies } = await this.all(packet);
    return replies.filter((r) => r.startsWith('O') && r !== 'OK').map((r) => Buffer.from(r.slice(1), 'hex').toString('utf8')).join('');
  }

  async targetXml(): Promise<string> {
    let xml = '';
    for (;;) {
      const r = await this.ask(`qXfer:features:read:target.xml:${xml.length.toString(16)},80`);
      xml += r.slice(1);
      if (r[0] === 'l') return xml;
      expect(r[0]).toBe('m');
    }
  }
}

const le = (v: bigint, bytes: number) => Buffer.from(Array.from({ length: bytes }, (_, i) => Number((v >> BigInt(8 * i)) & 0xffn))).toString('hex');
const monitor = (cmd: string) => `qRcmd,${Buffer.from(cmd).toString('hex')}`;

describe('gdb stub: queries', () => {
  it('announces packet size, target descriptions, reverse execution, swbreak/hwbreak and no-ack mode', async () => {
    const h = new Harness();
    const features = (await h.ask('qSupported:multiprocess+;swbreak+;hwbreak+;xmlRegisters=i386')).split(';');
    expect(features).toEqual(expect.arrayContaining(['PacketSize=4000', 'qXfer:features:read+', 'ReverseStep+', 'ReverseContinue+', 'swbreak+', 'hwbreak+', 'QStartNoAckMode+']));
    expect(await h.ask('QStartNoAckMode')).toBe('OK');
    expect(h.acks).toBe(false);
  });

  it('has one thread, attached', async () => {
    const h = new Harness();
    expect(await h.ask('qC')).toBe('QC1');
    expect(await h.ask('qfThreadInfo')).toBe('m1');
    expect(await h.ask('qsThreadInfo')).toBe('l');
    expect(await h.ask('qAttached')).toBe('1');
    expect(await h.ask('Hg0')).toBe('OK');
    expect(await h.ask('Hc-1')).toBe('OK');
    expect(await h.ask('Hg2')).toBe('E01');
    expect(await h.ask('T1')).toBe('OK');
    expect(await h.ask('T2')).toBe('E01');
    expect(await h.ask('?')).toBe('T05thread:1;');
  });

  it('answers unknown packets with the empty reply and malformed ones with an error', async () => {
    const h = new Harness();
    for (const p of ['vMustReplyEmpty', 'qTStatus', 'QNonStop:1', 'vFile:open:', 'jThreads', '!', 'qXfer:auxv:read::0,100']) expect(await h.ask(p)).toBe('');
    for (const p of ['mzz,4', 'm1000', 'M1000,2:abc', 'Z9,1000,1', 'Zx', 'p', 'Pzz=00', 'vCont;x', 'qRcmd,4', 'qXfer:features:read:target.xml:zz']) expect(await h.ask(p)).toMatch(/^E/);
    expect(await h.ask('qXfer:features:read:other.xml:0,100')).toBe('E00');
  });

  it('ends on k (kill) and D (detach, after OK)', async () => {
    const h = new Harness();
    expect(await h.all('k')).toEqual({ replies: [], after: 'kill' });
    expect(await h.all('D')).toEqual({ replies: ['OK'], after: 'detach' });
    expect(await h.all('D;1')).toEqual({ replies: ['OK'], after: 'detach' });
  });
});

describe('gdb stub: target descriptions and registers', () => {
  const regNames = (xml: string) => [...xml.matchAll(/<reg name="([^"]+)" bitsize="(\d+)"/g)].map((m) => `${m[1]}/${m[2]}`);

  it('describes 32-bit protected mode as i386 with gdb\'s core registers in its order', async () => {
    const xml = await new Harness().targetXml();
    expect(xml).toContain('<architecture>i386</architecture>');
    expect(xml).toContain('<feature name="org.gnu.gdb.i386.core">');
    expect(regNames(xml).slice(0, 16)).toEqual(['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi', 'eip', 'eflags', 'cs', 'ss', 'ds', 'es', 'fs', 'gs'].map((n) => `${n}/32`));
    expect(regNames(xml).slice(16, 32)).toEqual([...Array.from({ length: 8 }, (_, i) => `st${i}/80`), ...['fctrl', 'fstat', 'ftag', 'fiseg', 'fioff', 'foseg', 'fooff', 'fop'].map((n) => `${n}/32`)]);
    expect(regNames(xml).slice(32)).toEqual(['fs_base/32', 'gs_base/32', 'cr0/64', 'cr2/64', 'cr3/64', 'cr4/64', 'efer/64']);
  });

  it('describes real mode as i8086 with the 32-bit layout, and long mode as i386:x86-64', async () => {
    const real = await new Harness({ modeAt: () => 'real' }).targetXml();
    expect(real).toContain('<architecture>i8086</architecture>');
    expect(regNames(real)[0]).toBe('eax/32');
    const long = await new Harness({ modeAt: () => 'long64' }).targetXml();
    expect(long).toContain('<architecture>i386:x86-64</architecture>');
    expect(regNames(long).slice(0, 18)).toEqual([...['rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rbp', 'rsp', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15', 'rip'].map((n) => `${n}/64`), 'eflags/32']);
  });

  it('sends the g packet in the description\'s order and sizes', async () => {
    const h = new Harness();
    await h.ask('s');
    await h.ask('s');
    const g = await h.ask('g');
    expect(g.length).toBe(LAYOUTS.i386.bytes * 2);
    expect(g.slice(0, 8)).toBe(le(2n, 4)); // eax: low half of rax
    expect(g.slice(8 * 8, 9 * 8)).toBe(le(BigInt(ripAt(2)), 4)); // eip
    expect(g.slice(10 * 8, 11 * 8)).toBe(le(BigInt(header.boot.sregs.cs.selector), 4)); // cs
    // fctrl/fstat/ftag after 16 registers and 8 × 10-byte st registers
    const x87 = (16 * 4 + 80) * 2;
    expect(g.slice(x87, x87 + 24)).toBe(le(0x37fn, 4) + le(0n, 4) + le(0xffffn, 4));

    const long = new Harness({ modeAt: () => 'long64' });
    const g64 = await long.ask('g');
    expect(g64.length).toBe(LAYOUTS.amd64.bytes * 2);
    expect(g64.slice(0, 16)).toBe(le(0x1234_5678_0000_0000n, 8));
    expect(g64.slice(16 * 16, 17 * 16)).toBe(le(BigInt(CODE), 8)); // rip
  });

  it('reads one register with p and writes general registers with P, keeping the bits above them', async () => {
    const h = new Harness();
    expect(await h.ask('p8')).toBe(le(BigInt(CODE), 4));
    expect(await h.ask('p22')).toBe(le(header.boot.sregs.cr0, 8)); // cr0: after 32 core registers, fs_base and gs_base
    expect(await h.ask('p99')).toBe('E01');
    expect(await h.ask('P0=efbeadde')).toBe('OK');
    expect(h.target.regs().rax).toBe(0x1234_5678_dead_beefn);
    expect(await h.ask('P8=00200000')).toBe('OK');
    expect(h.target.regs().rip).toBe(0x2000n);
  });

  it('refuses writes to registers a replay cannot change, unless the value is unchanged (G sends them all)', async () => {
    const h = new Harness();
    expect(await h.ask('Pa=00000000')).toMatch(/^E\.register cs is read-only/);
    expect(await h.ask(`Pa=${le(BigInt(header.boot.sregs.cs.selector), 4)}`)).toBe('OK');
    const g = await h.ask('g');
    expect(await h.ask(`G${'11111111'}${g.slice(8)}`)).toBe('OK');
    expect(h.target.regs().rax).toBe(0x1234_5678_1111_1111n);
    expect(await h.ask(`G${g.slice(0, -2)}`)).toMatch(/^E\./);
  });
});

describe('gdb stub: memory', () => {
  it('reads and writes guest-linear memory (m, M, X with escaped bytes)', async () => {
    const h = new Harness();
    h.target.memory.set([1, 2, 3, 4], 0x500);
    expect(await h.ask('m500,4')).toBe('01020304');
    expect(await h.ask('M500,2:abcd')).toBe('OK');
    expect(await h.ask('m500,4')).toBe('abcd0304');
    expect(await h.ask('X600,0:')).toBe('OK');
    const data = Uint8Array.of(0x23, 0x24, 0x7d, 0x2a, 0x00);
    expect(await h.ask(Buffer.concat([Buffer.from('X600,5:'), escapeBinary(data)]))).toBe('OK');
    expect(h.target.memory.subarray(0x600, 0x605)).toEqual(data);
  });

  it('reads up to the first unmapped page, and fails where nothing is mapped', async () => {
    const h = new Harness();
    expect(await h.ask('mfffe,4')).toBe('0000');
    expect(await h.ask('m20000,4')).toBe('E14');
    expect(await h.ask('M20000,1:00')).toBe('E14');
  });
});

describe('gdb stub: execution', () => {
  it('steps forward and back; reverse at the start reports replaylog:begin', async () => {
    const h = new Harness();
    expect(await h.ask('s')).toBe('T05thread:1;');
    expect(await h.ask('vCont;s:1')).toBe('T05thread:1;');
    expect(h.target.position.instructions).toBe(2);
    expect(await h.ask('bs')).toBe('T05thread:1;');
    expect(await h.ask('bs')).toBe('T05thread:1;');
    expect(await h.ask('bs')).toBe('T05replaylog:begin;thread:1;');
    expect(h.target.position.instructions).toBe(0);
  });

  it('stops at software and hardware breakpoints without touching guest memory', async () => {
    const h = new Harness();
    expect(await h.ask(`Z0,${ripAt(5).toString(16)},1`)).toBe('OK');
    expect(await h.ask(`Z1,${ripAt(8).toString(16)},1`)).toBe('OK');
    expect(h.target.memory.every((b) => b === 0)).toBe(true);
    expect(await h.ask('vCont;c')).toBe('T05swbreak:;thread:1;');
    expect(h.target.position.instructions).toBe(5);
    expect(await h.ask('c')).toBe('T05hwbreak:;thread:1;');
    expect(await h.ask('bc')).toBe('T05swbreak:;thread:1;');
    expect(h.target.position.instructions).toBe(5);
    expect(await h.ask(`z0,${ripAt(5).toString(16)},1`)).toBe('OK');
    expect(await h.ask('bc')).toBe('T05replaylog:begin;thread:1;');
  });

  it('resumes at an address given with c/s', async () => {
    const h = new Harness();
    expect(await h.ask('s2000')).toBe('T05thread:1;');
    expect(await h.ask('S05;2000')).toBe('T05thread:1;');
    expect(await h.ask('szz')).toBe('E01');
  });

  it('reports write, read and access watchpoints with the address accessed', async () => {
    const accesses = { 3: { kind: 'write', address: 0x800, length: 4 }, 6: { kind: 'read', address: 0x802, length: 1 } } as const;
    const h = new Harness({ accesses });
    expect(await h.ask('Z2,800,4')).toBe('OK');
    expect(await h.ask('c')).toBe('T05watch:800;thread:1;');
    expect(h.target.position.instructions).toBe(4);
    expect(await h.ask('z2,800,4')).toBe('OK');
    expect(await h.ask('Z3,800,4')).toBe('OK');
    expect(await h.ask('c')).toBe('T05rwatch:802;thread:1;');
    expect(await h.ask('z3,800,4')).toBe('OK');
    expect(await h.ask('Z4,801,2')).toBe('OK');
    // reverse: stops before the access (the read at 6, then the write at 3)
    expect(await h.ask('bc')).toBe('T05awatch:802;thread:1;');
    expect(h.target.position.instructions).toBe(6);
    expect(await h.ask('bc')).toBe('T05awatch:800;thread:1;');
    expect(h.target.position.instructions).toBe(3);
  });

  it('reports a watchpoint hit by a single step', async () => {
    const h = new Harness({ accesses: { 1: { kind: 'write', address: 0x800, length: 1 } } });
    expect(await h.ask('Z2,800,1')).toBe('OK');
    expect(await h.ask('s')).toBe('T05thread:1;');
    expect(await h.ask('s')).toBe('T05watch:800;thread:1;');
  });

  it('takes upper-half 64-bit addresses as the 48-bit linear ones the replay uses, and reports them canonical', async () => {
    const h = new Harness({ modeAt: () => 'long64', accesses: { 2: { kind: 'write', address: 0xffff_8000_0010, length: 8 } } });
    expect(await h.ask('Z2,ffffffff80000010,8')).toBe('OK');
    expect(await h.ask('c')).toBe('T05watch:ffffffff80000010;thread:1;');
    expect(await h.ask('m7fffffff0000,4')).toBe('E14');
  });

  it('stops at the end of the trace with replaylog:end and how the replay ended', async () => {
    const h = new Harness({ length: 20 });
    const out = await h.console('c');
    expect(out).toMatch(/^vmtrace: end of the trace: all 2 exits matched/);
    expect(h.sent.at(-1)).toBe('T05replaylog:end;thread:1;');
    expect(await h.ask('s')).toBe('T05replaylog:end;thread:1;');
  });

  it('stops at a divergence with SIGEMT and the report on gdb\'s console, every time forward execution tries again', async () => {
    const h = new Harness({ divergeAt: 15 });
    const stop = `T${DIVERGENCE_SIGNAL.toString(16).padStart(2, '0')}thread:1;`;
    const out = await h.console('vCont;c');
    expect(h.sent.at(-1)).toBe(stop);
    expect(out).toContain('vmtrace: the replay diverges from the recording here');
    expect(out).toContain('divergence (payload) at record #1, byte offset 123 of fake.vmtrace');
    expect(out).toMatch(/io\.port\s+0xf2\s+0xf1/);
    expect(h.target.position.instructions).toBe(15);
    expect(await h.console('vCont;C07:1')).toBe('vmtrace: forward execution ends here, at the divergence at record #1 (`monitor divergence` shows the report)\n');
    expect(h.sent.at(-1)).toBe(stop);
    expect(await h.ask('s')).toBe(stop);
    expect(await h.ask('?')).toBe(stop);
    expect(await h.ask('bs')).toBe('T05thread:1;');
  });

  it('stops with SIGINT when gdb interrupts a run (Ctrl-C)', async () => {
    const h = new Harness({ length: 1e9, pollEvery: 100 });
    const run = h.ask('c');
    await new Promise((r) => setImmediate(r));
    h.interrupt = true;
    expect(await run).toBe('T02thread:1;');
    expect(h.interrupt).toBe(false);
    expect(h.target.polls).toBeGreaterThan(0);
  });

  it('takes the vCont action meant for its thread', async () => {
    const h = new Harness();
    expect(await h.ask('vCont?')).toBe('vCont;c;C;s;S');
    expect(await h.ask('vCont;s:1;c')).toBe('T05thread:1;');
    expect(h.target.position.instructions).toBe(1);
    expect(await h.ask('vCont;c:2')).toBe('E01');
    expect(await h.ask('vCont;r1000,1010')).toBe('E01');
  });
});

describe('gdb stub: monitor commands', () => {
  it('lists the commands', async () => {
    const out = await new Harness().console(monitor('help'));
    for (const c of ['record', 'exit [N]', 'divergence', 'seek-record N', 'seek N', 'help']) expect(out).toContain(`monitor ${c}`);
  });

  it('says where the replay stands and shows a record', async () => {
    const h = new Harness();
    await h.ask(monitor('seek 25'));
    expect(await h.console(monitor('record'))).toMatch(/^at instruction 25, 2 record\(s\) matched, mode protected32\nnext record: #2 IO out 0xf1 1 48 "H"/);
    const exit = await h.console(monitor('exit 0x1'));
    expect(exit).toMatch(/^record #1 \(exit\) at byte offset 101: IO out 0xf1 1 48 "H"/);
    expect(exit).toMatch(/port 0xf1, out, size 1, count 1, data 48 "H"/);
    expect(exit).toMatch(/rax 0x14 /);
    expect(exit).toContain('(matched in this replay)');
    expect(await h.console(monitor('exit'))).toMatch(/^record #1 /);
    expect(await h.console(monitor('exit 5'))).toContain('(not reached yet in this replay)');
  });

  it('moves the replay to a record or an instruction count and says how gdb sees it', async () => {
    const h = new Harness();
    const out = await h.console(monitor('seek-record 3'));
    expect(out).toMatch(/^now at instruction 40, 4 record\(s\) matched, mode protected32 \(record #3\)/);
    expect(out).toContain('maintenance flush register-cache');
    expect((await h.ask('g')).slice(0, 8)).toBe(le(40n, 4));
    await h.ask(monitor('seek 7'));
    expect(h.target.position.instructions).toBe(7);
  });

  it('fails unknown commands and bad arguments (gdb ends the command with an error)', async () => {
    const h = new Harness();
    const { replies } = await h.all(monitor('frobnicate'));
    expect(replies.at(-1)).toBe('E01');
    expect(Buffer.from(replies[0]!.slice(1), 'hex').toString()).toMatch(/unknown monitor command 'frobnicate'/);
    expect(await h.ask(monitor('seek-record x'))).toBe('E01');
    expect(await h.ask(monitor('exit 999'))).toBe('E01');
  });

  it('reports the divergence once met, and says so before', async () => {
    const h = new Harness({ divergeAt: 15 });
    expect(await h.console(monitor('divergence'))).toMatch(/^no divergence met so far/);
    await h.ask('c');
    expect(await h.console(monitor('divergence'))).toMatch(/^divergence \(payload\) at record #1, byte offset 123 of fake\.vmtrace\n  exit #1: the guest did OUT port 0xf1/);
    const seek = await h.console(monitor('seek 50'));
    expect(seek).toMatch(/^stopped before instruction 50: the replay diverged at record #1 \(payload\)/);
  });
});

describe('gdb stub: mode switches', () => {
  it('keeps the layout gdb read, says how to reconnect when the register width changes, and a new connection gets the new layout', async () => {
    const modeAt = (i: number) => (i < 3 ? 'protected32' : 'long64') as const;
    const h = new Harness({ modeAt });
    await h.targetXml();
    expect(await h.console('s')).toBe('');
    await h.ask('s');
    const out = await h.console('s');
    expect(out).toMatch(/switched from 32-bit protected mode to 64-bit long mode/);
    expect(out).toContain('`disconnect`, `file` (gdb refuses the new layout with an ELF of the old width loaded), `target remote 127.0.0.1:1234`, then `add-symbol-file ELF`');
    expect(h.sent.at(-1)).toBe('T05thread:1;');
    expect((await h.ask('g')).length).toBe(LAYOUTS.i386.bytes * 2);
    expect(await h.console('s')).toBe(''); // said once

    const again = new GdbStub(h.target, h, { trace: 'fake.vmtrace', reconnect: '' });
    const xml = await (async () => {
      const r = h.sent.length;
      await again.handle(Buffer.from('qXfer:features:read:target.xml:0,3fff'));
      return h.sent.slice(r).at(-1)!;
    })();
    expect(xml).toContain('<architecture>i386:x86-64</architecture>');
  });

  it('suggests `set architecture` when the code size changes within the 32-bit layout', async () => {
    const h = new Harness({ modeAt: (i) => (i < 1 ? 'real' : 'protected32') });
    await h.targetXml();
    expect(await h.console('s')).toMatch(/switched from real mode \(16-bit\) to 32-bit protected mode: `set architecture i386`/);
    expect(await h.console('bs')).toMatch(/`set architecture i8086`/);
  });
});
