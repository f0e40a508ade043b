// The power-off half of an ACPI PM1a control register, as QEMU's PIIX4 PM places it at 0x604:
// a 16-bit write with SLP_EN (bit 13) set and SLP_TYP (bits 12:10) = 0 (S5 on QEMU) powers the
// machine off, which ends the run (`guest-exit`, exit code 0). Other writes are kept and read back.
import type { DeviceContext, PortDevice, PortDeviceType } from './device.js';
import type { StopRequest } from './stop.js';

export const SLP_EN = 1 << 13;
const SLP_TYP_MASK = 7 << 10;

export class AcpiPowerOff implements PortDevice {
  readonly name = 'acpi-poweroff';
  private control = 0;

  constructor(
    private readonly stop: StopRequest,
    private readonly base: number,
  ) {}

  portOut(port: number, size: number, value: number): void {
    // Bytes of the 16-bit register written by this access (an 8-bit write may hit either half).
    const shift = 8 * (port - this.base);
    const mask = (size >= 2 ? 0xffff : 0xff) << shift;
    const v = ((this.control & ~mask) | ((value << shift) & mask)) & 0xffff;
    this.control = v & ~SLP_EN; // SLP_EN is write-only
    if (v & SLP_EN && (v & SLP_TYP_MASK) === 0) {
      this.stop.request({
        endReason: 'guest-exit',
        source: this.name,
        message: `guest powered off (wrote 0x${v.toString(16)} to the ACPI PM1a control register at 0x${this.base.toString(16)})`,
      });
    }
  }

  portIn(port: number, size: number): number {
    const v = this.control >>> (8 * (port - this.base));
    return size === 1 ? v & 0xff : v & 0xffff;
  }
}

export const acpiPowerOffType: PortDeviceType = {
  name: 'acpi-poweroff',
  aliases: ['poweroff', 'acpi'],
  defaultBase: 0x604,
  ports: 2,
  summary: 'ACPI PM1a control (QEMU): writing 0x2000 powers off, ending the run',
  create: (ctx: DeviceContext, base: number) => new AcpiPowerOff(ctx.stop, base),
};
