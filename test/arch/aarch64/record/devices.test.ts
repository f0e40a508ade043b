// The aarch64 MMIO devices (PL011, exit register) on the MMIO bus they are registered on.
import { describe, expect, it } from 'vitest';

import { attachMmioDevices, A64_DEVICE_TYPES } from '../../../../src/record/devices/catalog.js';
import { InputBytes, type ConsoleSink } from '../../../../src/record/devices/console.js';
import { MmioBus } from '../../../../src/record/devices/device.js';
import { StopRequest } from '../../../../src/record/devices/stop.js';

function board(input = '') {
  const out: number[] = [];
  const sink: ConsoleSink = { put: (b) => out.push(b), flush: () => {} };
  const stop = new StopRequest();
  const bus = new MmioBus({ stop });
  attachMmioDevices(bus, A64_DEVICE_TYPES, { sink, input: new InputBytes(Buffer.from(input)), stop });
  const read = (address: number, length = 4) => {
    const d = new Uint8Array(length).fill(0xee);
    bus.access(address, false, d);
    return d.reduceRight((v, b) => v * 256 + b, 0);
  };
  const write = (address: number, ...bytes: number[]) => bus.access(address, true, Uint8Array.from(bytes));
  return { bus, stop, out, read, write };
}

describe('aarch64 devices', () => {
  it('are registered at the QEMU virt addresses', () => {
    expect(board().bus.devices).toEqual([
      { name: 'pl011', kind: 'mmio', base: 0x09000000, length: 0x1000 },
      { name: 'exit-register', kind: 'mmio', base: 0x09100000, length: 4 },
    ]);
  });

  it('PL011: UARTDR prints writes and reads --input, UARTFR tracks it, other registers read 0', () => {
    const b = board('hi');
    expect(b.read(0x09000018)).toBe(0x80); // TXFE, input waiting (RXFE clear), TXFF clear
    expect(b.read(0x09000000, 1)).toBe(0x68);
    expect(b.read(0x09000000)).toBe(0x69);
    expect(b.read(0x09000018)).toBe(0x90); // RXFE set: input used up
    expect(b.read(0x09000000)).toBe(0);
    b.write(0x09000000, 0x4f, 0x99); // a 2-byte write prints its low byte
    b.write(0x09000030, 0x01, 0x03); // UARTCR: ignored
    expect(b.out).toEqual([0x4f]);
    expect(b.read(0x09000030)).toBe(0);
    expect(b.stop.requested).toBe(false);
  });

  it('exit register: a 32-bit write ends the run with that status', () => {
    const b = board();
    expect(b.read(0x09100000)).toBe(0);
    b.write(0x09100000, 0x2a, 0x01, 0, 0);
    expect(b.stop.info).toMatchObject({ endReason: 'guest-exit', status: 0x12a, source: 'exit-register' });
    expect(b.stop.info?.message).toMatch(/status 298 .*0x9100000/);
  });
});
