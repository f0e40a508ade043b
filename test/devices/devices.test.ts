import { describe, expect, it } from 'vitest';

import { AcpiPowerOff } from '../../src/record/devices/acpi-poweroff.js';
import { attachDevices, DEFAULT_DEVICE_LIST, DeviceSpecError, formatDeviceList, parseDeviceSpec, resolveDevices } from '../../src/record/devices/catalog.js';
import { ConsolePort, InputBytes } from '../../src/record/devices/console.js';
import { DebugCon } from '../../src/record/devices/debugcon.js';
import { MmioBus, PortBus } from '../../src/record/devices/device.js';
import { InputPort } from '../../src/record/devices/input-port.js';
import { debugExitStatus, IsaDebugExit } from '../../src/record/devices/isa-debug-exit.js';
import { StopRequest } from '../../src/record/devices/stop.js';
import { LSR, Uart16550 } from '../../src/record/devices/uart16550.js';
import { recordExitCode } from '../../src/record/recorder.js';
import { CapturedConsole } from '../support/record.js';

const bytes = (s: string) => new InputBytes(Buffer.from(s, 'latin1'));

describe('16550 UART', () => {
  const uart = (input = '') => {
    const sink = new CapturedConsole();
    return { sink, u: new Uart16550(sink, bytes(input), 0x3f8) };
  };

  it('LSR: the transmitter is always empty (THRE | TEMT); DR while input is left', () => {
    const { u } = uart('ab');
    expect(u.portIn(0x3fd, 1)).toBe(LSR.THRE | LSR.TEMT | LSR.DR);
    expect(u.portIn(0x3f8, 1)).toBe(0x61);
    expect(u.portIn(0x3fd, 1) & LSR.DR).toBe(LSR.DR);
    expect(u.portIn(0x3f8, 1)).toBe(0x62);
    expect(u.portIn(0x3fd, 1)).toBe(0x60);
    expect(u.portIn(0x3f8, 1)).toBe(0); // nothing left
  });

  it('THR writes go to the console; with DLAB set, offsets 0 and 1 are the divisor latch', () => {
    const { u, sink } = uart();
    u.portOut(0x3f8, 1, 0x48);
    u.portOut(0x3fb, 1, 0x83); // LCR: DLAB, 8N1
    u.portOut(0x3f8, 1, 0x03); // DLL: 38400 baud
    u.portOut(0x3f9, 1, 0x00);
    expect(u.portIn(0x3f8, 1)).toBe(0x03);
    expect(u.portIn(0x3fb, 1)).toBe(0x83);
    u.portOut(0x3fb, 1, 0x03);
    u.portOut(0x3f8, 1, 0x69);
    expect(sink.text).toBe('Hi');
  });

  it('IIR: no interrupt pending, FIFO bits after FCR enables it; scratch and IER read back', () => {
    const { u } = uart();
    expect(u.portIn(0x3fa, 1)).toBe(0x01);
    u.portOut(0x3fa, 1, 0xc7);
    expect(u.portIn(0x3fa, 1)).toBe(0xc1);
    u.portOut(0x3ff, 1, 0x5a);
    expect(u.portIn(0x3ff, 1)).toBe(0x5a);
    u.portOut(0x3f9, 1, 0xff);
    expect(u.portIn(0x3f9, 1)).toBe(0x0f);
  });

  it('MSR: a connected line; in loopback the modem outputs read back (the Linux probe)', () => {
    const { u, sink } = uart('x');
    expect(u.portIn(0x3fe, 1)).toBe(0xb0);
    u.portOut(0x3fc, 1, 0x1a); // LOOP | OUT2 | RTS
    expect(u.portIn(0x3fe, 1) & 0xf0).toBe(0x90); // DCD | CTS
    u.portOut(0x3f8, 1, 0x41); // not transmitted in loopback
    expect(u.portIn(0x3fd, 1) & LSR.DR).toBe(0); // and input is not offered
    expect(sink.text).toBe('');
  });

  it('a 16-bit access covers two consecutive registers', () => {
    const { u } = uart();
    expect(u.portIn(0x3fc, 2)).toBe(0x00 | ((LSR.THRE | LSR.TEMT) << 8)); // MCR, LSR
  });
});

describe('isa-debug-exit', () => {
  it('ends the run with status (v << 1) | 1 for every access size; the first write wins', () => {
    for (const [size, v, status] of [
      [1, 0, 1],
      [1, 0x10, 33],
      [2, 0x1234, 0x2469],
      [4, 0xffffffff, 0x1ffffffff],
    ] as const) {
      const stop = new StopRequest();
      const dev = new IsaDebugExit(stop);
      dev.portOut(0xf4, size, v);
      dev.portOut(0xf4, 1, 7);
      expect(stop.info).toMatchObject({ endReason: 'guest-exit', status, source: 'isa-debug-exit' });
      expect(debugExitStatus(v)).toBe(status);
    }
    const stop = new StopRequest();
    new IsaDebugExit(stop).portOut(0xf4, 1, 0x10);
    expect(stop.info!.message).toBe('guest exited with status 33 (wrote 0x10 to isa-debug-exit port 0xf4, 1 byte)');
  });

  it('the record exit code is the status, truncated to 8 bits as exit(2) does', () => {
    expect(recordExitCode({ endReason: 'guest-exit', status: 33 })).toBe(33);
    expect(recordExitCode({ endReason: 'guest-exit', status: 0x1ff })).toBe(0xff);
    expect(recordExitCode({ endReason: 'guest-exit' })).toBe(0); // power-off
    expect(recordExitCode({ endReason: 'shutdown' })).toBe(1);
    expect(recordExitCode({ endReason: 'error' })).toBe(1);
  });
});

describe('ACPI power-off', () => {
  it('a 16-bit write of 0x2000 (SLP_EN, SLP_TYP 0) powers off', () => {
    const stop = new StopRequest();
    new AcpiPowerOff(stop, 0x604).portOut(0x604, 2, 0x2000);
    expect(stop.info).toMatchObject({ endReason: 'guest-exit', source: 'acpi-poweroff' });
    expect(stop.info!.status).toBeUndefined();
  });

  it('other values do not; two byte writes do; the register reads back without SLP_EN', () => {
    const stop = new StopRequest();
    const pm = new AcpiPowerOff(stop, 0x604);
    pm.portOut(0x604, 2, 0x0001); // SCI_EN
    pm.portOut(0x604, 2, 0x1400 | 0x2000); // SLP_EN with SLP_TYP 5: not S5 on QEMU's PIIX4
    expect(stop.requested).toBe(false);
    expect(pm.portIn(0x604, 2)).toBe(0x1400);
    pm.portOut(0x604, 2, 0);
    pm.portOut(0x605, 1, 0x20); // high byte: SLP_EN
    expect(stop.requested).toBe(true);
  });
});

describe('debugcon, console and input port', () => {
  it('debugcon prints and reads back 0xe9', () => {
    const sink = new CapturedConsole();
    const d = new DebugCon(sink);
    d.portOut(0xe9, 1, 0x41);
    d.portOut(0xe9, 2, 0x4342);
    expect(sink.text).toBe('ABC');
    expect(d.portIn(0xe9, 1)).toBe(0xe9);
  });

  it('console and input port share --input; the input port has a status port', () => {
    const input = bytes('a\0b');
    const sink = new CapturedConsole();
    const con = new ConsolePort(sink, input);
    const inp = new InputPort(input, 0xf2);
    expect(inp.portIn(0xf3, 1)).toBe(1);
    expect(con.portIn(0xf1, 1)).toBe(0x61);
    expect(inp.portIn(0xf2, 1)).toBe(0); // a real zero byte…
    expect(inp.portIn(0xf3, 1)).toBe(1); // …with more to come
    expect(inp.portIn(0xf2, 1)).toBe(0x62);
    expect(inp.portIn(0xf3, 1)).toBe(0);
    expect(con.portIn(0xf1, 1)).toBe(0);
  });
});

describe('device sets on the CLI', () => {
  it('the default set, in order, with its ports', () => {
    expect(formatDeviceList(resolveDevices())).toBe('console@0xf1,debugcon@0xe9,uart16550@0x3f8,input@0xf2,isa-debug-exit@0xf4,acpi-poweroff@0x604');
    expect(resolveDevices().map((d) => d.type.name).join(',')).toBe(DEFAULT_DEVICE_LIST);
  });

  it('--devices replaces the set; --device adds or moves one; --without drops one; --console-port moves the console', () => {
    expect(formatDeviceList(resolveDevices({ devices: 'debugcon,exit' }))).toBe('debugcon@0xe9,isa-debug-exit@0xf4');
    expect(formatDeviceList(resolveDevices({ devices: 'none' }))).toBe('none');
    expect(formatDeviceList(resolveDevices({ devices: 'debugcon', add: ['uart@0x2f8'] }))).toBe('debugcon@0xe9,uart16550@0x2f8');
    expect(formatDeviceList(resolveDevices({ add: ['serial@0x2f8'], remove: ['input', 'acpi'] }))).toBe('console@0xf1,debugcon@0xe9,uart16550@0x2f8,isa-debug-exit@0xf4');
    expect(formatDeviceList(resolveDevices({ devices: 'console,exit@0x501', consolePort: 0x80 }))).toBe('console@0x80,isa-debug-exit@0x501');
  });

  it('clear errors for unknown names, bad ports and clashes', () => {
    expect(() => parseDeviceSpec('vga')).toThrow(DeviceSpecError);
    expect(() => parseDeviceSpec('vga')).toThrow(/unknown device 'vga'; known: console \(f1\); debugcon/);
    expect(() => parseDeviceSpec('uart@0x10000')).toThrow(/'0x10000' is not an I\/O port/);
    expect(() => parseDeviceSpec('uart@0xfffc')).toThrow(/8 ports from 0xfffc run past 0xffff/);
    expect(() => resolveDevices({ add: ['debugcon@0xf4'] })).toThrow(/devices clash: debugcon at 0xf4 and isa-debug-exit at 0xf4-0xf7 share ports/);
  });

  it('the bus registers each device by its range, as the header lists them', () => {
    const bus = new PortBus();
    const stop = new StopRequest();
    attachDevices(bus, resolveDevices({ devices: 'uart,exit' }), { sink: new CapturedConsole(), input: bytes(''), stop });
    expect(bus.devices).toEqual([
      { name: 'uart16550', kind: 'port', base: 0x3f8, length: 8 },
      { name: 'isa-debug-exit', kind: 'port', base: 0xf4, length: 4 },
    ]);
    expect([bus.claimed(0x3ff), bus.claimed(0x400), bus.claimed(0xf7)]).toEqual([true, false, true]);
  });
});

describe('unclaimed accesses', () => {
  it('read as all ones and ignore writes by default', () => {
    const bus = new PortBus({ stop: new StopRequest() });
    const data = new Uint8Array(2);
    bus.access(0x80, 2, 1, false, data);
    expect([...data]).toEqual([0xff, 0xff]);
  });

  it('under --strict end the run with a one-line error naming the port or address', () => {
    const stop = new StopRequest();
    const bus = new PortBus({ stop, strict: true });
    bus.access(0x80, 1, 1, true, Uint8Array.of(0x12));
    expect(stop.info).toMatchObject({ endReason: 'error', wantsRip: true, message: '--strict: unclaimed port 0x80: OUT of 1 byte (0x12)' });
    const stop2 = new StopRequest();
    const data = new Uint8Array(4);
    new MmioBus({ stop: stop2, strict: true }).access(0xfee00030, false, data);
    expect(stop2.info!.message).toBe('--strict: unclaimed MMIO address 0xfee00030: read of 4 bytes');
    expect([...data]).toEqual([0xff, 0xff, 0xff, 0xff]);
  });

  it('once a stop is requested, no device sees further accesses', () => {
    const stop = new StopRequest();
    const sink = new CapturedConsole();
    const bus = new PortBus({ stop });
    attachDevices(bus, resolveDevices({ devices: 'debugcon,exit' }), { sink, input: bytes(''), stop });
    bus.access(0xe9, 1, 1, true, Uint8Array.of(0x41));
    bus.access(0xf4, 1, 1, true, Uint8Array.of(0));
    bus.access(0xe9, 1, 1, true, Uint8Array.of(0x42));
    expect(sink.text).toBe('A');
    expect(stop.info!.status).toBe(1);
  });
});
