// The PL011 UART of QEMU's virt board (0x09000000), as much of it as a polled console needs:
// UARTDR (+0x000) prints a written byte and reads the next --input byte (0 when none is left);
// UARTFR (+0x018) says the transmitter is empty (TXFE, bit 7), never full (TXFF, bit 5, clear),
// and the receiver empty (RXFE, bit 4) once --input is used up. Other registers read 0 and
// ignore writes: there are no interrupts, baud rates or FIFOs to model.
import { PL011_BASE } from '../../arch/aarch64/layout.js';
import type { MmioDeviceType } from './catalog.js';
import type { ConsoleSink, InputBytes } from './console.js';
import type { DeviceContext, MmioDevice } from './device.js';

const UARTDR = 0x000;
const UARTFR = 0x018;
const FR_RXFE = 1 << 4;
const FR_TXFE = 1 << 7;

export class Pl011 implements MmioDevice {
  readonly name = 'pl011';

  constructor(
    private readonly sink: ConsoleSink,
    private readonly input: InputBytes,
    private readonly base: number,
  ) {}

  mmioRead(address: number, data: Uint8Array): void {
    data.fill(0);
    const offset = address - this.base;
    if (offset === UARTDR) data[0] = this.input.next();
    else if (offset === UARTFR) data[0] = FR_TXFE | (this.input.remaining > 0 ? 0 : FR_RXFE);
  }

  mmioWrite(address: number, data: Uint8Array): void {
    if (address - this.base === UARTDR) this.sink.put(data[0]!);
  }
}

export const pl011Type: MmioDeviceType = {
  name: 'pl011',
  defaultBase: PL011_BASE,
  length: 0x1000,
  summary: 'PL011 UART (QEMU virt): UARTDR prints / reads --input, UARTFR says TX empty and RX empty when input is used up',
  create: (ctx: DeviceContext, base: number) => new Pl011(ctx.sink, ctx.input, base),
};
