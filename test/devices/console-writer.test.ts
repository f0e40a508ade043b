import { describe, expect, it } from 'vitest';

import { ConsoleWriter } from '../../src/devices/console-output.js';

const text = (chunks: Uint8Array[]) => chunks.map((c) => Buffer.from(c).toString('latin1'));

describe('ConsoleWriter', () => {
  it('writes many console bytes at once, in order, when flushed or closed', () => {
    const writes: Uint8Array[] = [];
    const w = new ConsoleWriter((b) => writes.push(b));
    for (const c of 'Hello') w.push(Uint8Array.of(c.charCodeAt(0)));
    expect(writes).toEqual([]);
    w.flush();
    w.flush(); // nothing new: no empty write
    w.push(Uint8Array.of(0x0a));
    w.close();
    expect(text(writes)).toEqual(['Hello', '\n']);
  });

  it('writes when 64 KiB have gathered, and a larger piece on its own after what came before', () => {
    const writes: Uint8Array[] = [];
    const w = new ConsoleWriter((b) => writes.push(b));
    const dot = Uint8Array.of(0x2e);
    for (let i = 0; i < 65536; i++) w.push(dot);
    expect(writes).toEqual([]);
    w.push(Uint8Array.of(0x21));
    expect(writes.map((b) => b.length)).toEqual([65536]);
    w.push(new Uint8Array(70000).fill(0x2d));
    expect(writes.map((b) => b.length)).toEqual([65536, 1, 70000]);
    expect(text(writes)[1]).toBe('!');
    w.close();
    expect(writes).toHaveLength(3);
  });

  it('hands over arrays it no longer uses (a stream may keep them)', () => {
    const writes: Uint8Array[] = [];
    const w = new ConsoleWriter((b) => writes.push(b));
    const src = Uint8Array.of(0x61, 0x62);
    w.push(src);
    src[0] = 0x7a; // the caller's array is copied when pushed
    w.flush();
    w.push(Uint8Array.of(0x63, 0x64));
    w.close();
    expect(text(writes)).toEqual(['ab', 'cd']);
  });

  it('flushes on its timer while bytes wait', async () => {
    const writes: Uint8Array[] = [];
    const w = new ConsoleWriter((b) => writes.push(b), 5);
    w.push(Uint8Array.of(0x78));
    await new Promise((r) => setTimeout(r, 50));
    expect(text(writes)).toEqual(['x']);
    w.close();
  });
});
