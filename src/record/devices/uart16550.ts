// A 16550A UART (COM1 at 0x3f8 by default), enough for polled console drivers: bytes written to
// THR go to stdout at once (the transmitter always reads as empty), RBR hands out --input bytes
// (LSR.DR says when one is there). No interrupts: vmtrace guests have no interrupt controller.
// Registers (offset from base, DLAB = LCR bit 7):
//   0  THR (write) / RBR (read); with DLAB: divisor latch low
//   1  IER; with DLAB: divisor latch high
//   2  IIR (read: no interrupt pending, FIFO bits when enabled) / FCR (write)
//   3  LCR   4 MCR   5 LSR   6 MSR   7 SCR
import { bytesFrom, type ConsoleSink, type InputBytes } from './console.js';
import type { DeviceContext, PortDevice, PortDeviceType } from './device.js';

export const LSR = { DR: 0x01, THRE: 0x20, TEMT: 0x40 } as const;
const LCR_DLAB = 0x80;
const MCR_LOOP = 0x10;
const IIR_NO_INTERRUPT = 0x01;
const IIR_FIFO_ENABLED = 0xc0;
/** MSR outside loopback: carrier detect, data set ready and clear to send asserted. */
const MSR_CONNECTED = 0xb0;

export class Uart16550 implements PortDevice {
  readonly name = 'uart16550';
  private ier = 0;
  private lcr = 0x03; // 8N1, as firmware leaves it
  private mcr = 0;
  private scr = 0;
  private fcr = 0;
  private dll = 0x01; // 115200 baud
  private dlm = 0;

  constructor(
    private readonly sink: ConsoleSink,
    private readonly input: InputBytes,
    private readonly base: number,
  ) {}

  portOut(port: number, size: number, value: number): void {
    // A wider access writes consecutive registers, as a 16-bit OUT to an 8-bit device does.
    for (let i = 0; i < size; i++) this.write((port - this.base + i) & 7, (value >>> (8 * i)) & 0xff);
  }

  portIn(port: number, size: number): number {
    let reg = port - this.base;
    return bytesFrom(size, () => this.read(reg++ & 7));
  }

  private get dlab(): boolean {
    return (this.lcr & LCR_DLAB) !== 0;
  }

  private write(reg: number, v: number): void {
    switch (reg) {
      case 0:
        if (this.dlab) this.dll = v;
        else if (!(this.mcr & MCR_LOOP)) this.sink.put(v); // in loopback the byte goes nowhere
        break;
      case 1:
        if (this.dlab) this.dlm = v;
        else this.ier = v & 0x0f;
        break;
      case 2:
        this.fcr = v & 0xc9; // bits 1-2 (clear FIFOs) self-clear
        break;
      case 3:
        this.lcr = v;
        break;
      case 4:
        this.mcr = v & 0x1f;
        break;
      case 7:
        this.scr = v;
        break;
      default: // LSR and MSR are read-only
    }
  }

  private read(reg: number): number {
    switch (reg) {
      case 0:
        if (this.dlab) return this.dll;
        return this.mcr & MCR_LOOP ? 0 : this.input.next();
      case 1:
        return this.dlab ? this.dlm : this.ier;
      case 2:
        return IIR_NO_INTERRUPT | (this.fcr & 1 ? IIR_FIFO_ENABLED : 0);
      case 3:
        return this.lcr;
      case 4:
        return this.mcr;
      case 5:
        return this.lineStatus();
      case 6:
        return this.modemStatus();
      default:
        return this.scr;
    }
  }

  /** LSR: the transmitter is always empty; DR while --input has bytes left (never in loopback). */
  lineStatus(): number {
    const ready = !(this.mcr & MCR_LOOP) && this.input.remaining > 0;
    return LSR.THRE | LSR.TEMT | (ready ? LSR.DR : 0);
  }

  /** MSR: a connected line; in loopback the outputs DTR, RTS, OUT1, OUT2 appear as DSR, CTS, RI, DCD. */
  modemStatus(): number {
    if (!(this.mcr & MCR_LOOP)) return MSR_CONNECTED;
    const m = this.mcr;
    return ((m & 0x02) << 3) | ((m & 0x01) << 5) | ((m & 0x04) << 4) | ((m & 0x08) << 4);
  }
}

export const uart16550Type: PortDeviceType = {
  name: 'uart16550',
  aliases: ['uart', 'serial', 'com1'],
  defaultBase: 0x3f8,
  ports: 8,
  summary: '16550A UART: THR to stdout, LSR says the transmitter is empty, RBR reads --input',
  create: (ctx: DeviceContext, base: number) => new Uart16550(ctx.sink, ctx.input, base),
};
