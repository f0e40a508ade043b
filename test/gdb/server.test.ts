import { connect, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

import { frame, PacketReader, type WireEvent } from '../../src/replay/gdb/packets.js';
import { ListenError, serveGdb, type GdbServerEnd } from '../../src/replay/gdb/server.js';
import type { TraceHeader } from '../../src/trace/format.js';
import { openTrace } from '../../src/trace/reader.js';
import { ROOT } from '../support/record.js';
import { FakeTarget, type FakeScript } from './fake-target.js';

let header: TraceHeader;
beforeAll(async () => {
  const t = await openTrace(join(ROOT, 'traces', 'sieve-32.vmtrace'));
  header = t.header;
  await t.close();
});

/** A minimal gdb side: raw bytes out, wire events in. */
class Client {
  private readonly reader = new PacketReader();
  private readonly events: WireEvent[] = [];
  private wake: (() => void) | undefined;
  closed = false;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (d) => {
      this.events.push(...this.reader.push(d));
      this.wake?.();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake?.();
    });
  }

  static open(port: number): Promise<Client> {
    return new Promise((resolve, reject) => {
      const s = connect(port, '127.0.0.1', () => resolve(new Client(s)));
      s.on('error', reject);
    });
  }

  raw(bytes: string | Buffer): void {
    this.socket.write(bytes);
  }

  send(payload: string): void {
    this.raw(frame(payload));
  }

  /** The next event (waits for it); undefined once the server closed the connection. */
  async next(): Promise<WireEvent | undefined> {
    while (!this.events.length && !this.closed) await new Promise<void>((r) => (this.wake = r));
    return this.events.shift();
  }

  /** The next packet's text, skipping acknowledgements. */
  async packet(): Promise<string | undefined> {
    for (;;) {
      const e = await this.next();
      if (!e) return undefined;
      if (e.kind === 'packet') return e.payload.toString('latin1');
    }
  }

  end(): void {
    this.socket.end();
  }
}

interface Running {
  port: number;
  lines: string[];
  ended: Promise<GdbServerEnd>;
  target: FakeTarget;
}

async function start(script: Partial<FakeScript> = {}, once = false): Promise<Running> {
  const lines: string[] = [];
  const target = new FakeTarget(header, { length: 100, ...script });
  let listening: () => void;
  const ready = new Promise<void>((r) => (listening = r));
  const ended = serveGdb(target, {
    host: '127.0.0.1',
    port: 0,
    trace: 'fake.vmtrace',
    once,
    describe: 'fake',
    log: (l) => {
      lines.push(l);
      if (l.startsWith('gdb stub listening')) listening();
    },
  });
  await Promise.race([ready, ended]);
  const port = Number(/listening on 127\.0\.0\.1:(\d+) /.exec(lines[0]!)![1]);
  return { port, lines, ended, target };
}

describe('gdb stub server', () => {
  it('prints one listening line with the port it picked, and acknowledges packets until no-ack mode', async () => {
    const s = await start();
    expect(s.lines[0]).toBe(`gdb stub listening on 127.0.0.1:${s.port} (fake; in gdb: target remote 127.0.0.1:${s.port})`);
    const c = await Client.open(s.port);
    c.send('qC');
    expect(await c.next()).toEqual({ kind: 'ack' });
    expect(await c.next()).toEqual({ kind: 'packet', payload: Buffer.from('QC1') });
    c.raw('$qC#00'); // bad checksum: gdb is asked to send it again
    expect(await c.next()).toEqual({ kind: 'nack' });
    c.raw('-'); // gdb did not get the last reply: sent again
    expect(await c.next()).toEqual({ kind: 'packet', payload: Buffer.from('QC1') });
    c.send('QStartNoAckMode');
    expect(await c.next()).toEqual({ kind: 'ack' });
    expect(await c.packet()).toBe('OK');
    c.send('qAttached');
    expect(await c.next()).toEqual({ kind: 'packet', payload: Buffer.from('1') });
    c.send('k');
    expect(await s.ended).toEqual({ reason: 'killed', exitCode: 0 });
    expect(await c.next()).toBeUndefined();
    expect(s.lines.at(-1)).toMatch(/^gdb killed the replay \(at instruction 0, 0 records matched\): the stub ends$/);
  });

  it('stops a running continue when gdb sends Ctrl-C (0x03)', async () => {
    const s = await start({ length: 1e12, pollEvery: 1000 });
    const c = await Client.open(s.port);
    c.send('c');
    expect(await c.next()).toEqual({ kind: 'ack' });
    await new Promise((r) => setTimeout(r, 50));
    c.raw('\x03');
    expect(await c.packet()).toBe('T02thread:1;');
    expect(s.target.position.instructions).toBeGreaterThan(0);
    c.send('k');
    await s.ended;
  });

  it('keeps listening after gdb detaches or disconnects, with the replay where it was; refuses a second gdb meanwhile', async () => {
    const s = await start();
    const c = await Client.open(s.port);
    c.send('vCont;s');
    expect(await c.packet()).toBe('T05thread:1;');
    const second = await Client.open(s.port);
    expect(await second.next()).toBeUndefined();
    expect(s.lines).toContainEqual(expect.stringMatching(/^refused a gdb connection from 127\.0\.0\.1:\d+: one is being served$/));
    c.send('D');
    expect(await c.packet()).toBe('OK');
    expect(await c.next()).toBeUndefined();
    const again = await Client.open(s.port);
    again.send('s');
    expect(await again.packet()).toBe('T05thread:1;');
    expect(s.target.position.instructions).toBe(2);
    again.end();
    await new Promise((r) => setTimeout(r, 50));
    expect(s.lines.filter((l) => /^gdb disconnected; the replay stays at instruction \d+, 0 records matched; still listening/.test(l))).toHaveLength(2);
    const last = await Client.open(s.port);
    last.send('k');
    expect(await s.ended).toMatchObject({ reason: 'killed' });
  });

  it('serves a connection that comes just before the served one closes (gdb: `disconnect`, `target remote`)', async () => {
    const s = await start();
    const c = await Client.open(s.port);
    c.send('s');
    expect(await c.packet()).toBe('T05thread:1;');
    const next = await Client.open(s.port);
    next.send('s');
    c.end();
    expect(await next.packet()).toBe('T05thread:1;');
    expect(s.target.position.instructions).toBe(2);
    next.send('k');
    await s.ended;
  });

  it('with once, ends when the first connection does', async () => {
    const s = await start({}, true);
    const c = await Client.open(s.port);
    c.send('s');
    expect(await c.packet()).toBe('T05thread:1;');
    c.end();
    expect(await s.ended).toEqual({ reason: 'connection-ended', exitCode: 0 });
    expect(s.lines.at(-1)).toBe('gdb disconnected (at instruction 1, 0 records matched): the stub ends (--gdb-once)');
  });

  it('says so in one line when the port is taken', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as { port: number }).port;
    const target = new FakeTarget(header, { length: 10 });
    const run = serveGdb(target, { host: '127.0.0.1', port, trace: 'x', once: true, describe: '', log: () => {} });
    await expect(run).rejects.toThrow(ListenError);
    await expect(run).rejects.toThrow(`cannot listen on 127.0.0.1:${port} for gdb: EADDRINUSE (the port is in use: choose another, or 0 for any free one)`);
    blocker.close();
  });
});
