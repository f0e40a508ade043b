// Typed views of the addon's exit ring: one ExitSnapshot (native/vcpu.h) per KVM_RUN of the
// last batch. Views are made once per slot so that reading an exit allocates nothing.
import { REGS_BYTES } from '../cpu-state.js';
import { SREGS_BYTES } from '../kvm-structs.js';
import type { RunLayout } from './kvm.js';

/** Offset of cr0 in struct kvm_sregs (after 8 segments and 2 descriptor tables). */
const SREGS_CR0 = 224;
const X86_CR0_PG = 0x80000000;

export class ExitRing {
  readonly slots: number;
  readonly regs: Uint8Array[] = [];
  readonly sregs: Uint8Array[] = [];
  readonly sregsWords: Uint32Array[] = [];
  private readonly ioDataViews: Uint8Array[][] = [];
  private readonly view: DataView;
  private readonly size: number;

  constructor(
    buffer: ArrayBuffer,
    private readonly L: RunLayout,
  ) {
    this.view = new DataView(buffer);
    this.size = L.ringSlotSize;
    this.slots = L.ringSlots;
    for (let i = 0; i < this.slots; i++) {
      const at = i * this.size;
      this.regs.push(new Uint8Array(buffer, at + L.ringRegs, REGS_BYTES));
      this.sregs.push(new Uint8Array(buffer, at + L.ringSregs, SREGS_BYTES));
      this.sregsWords.push(new Uint32Array(buffer, at + L.ringSregs, SREGS_BYTES / 4));
      this.ioDataViews.push([1, 2, 3, 4].map((n) => new Uint8Array(buffer, at + L.ringIoData, n)));
    }
  }

  err(i: number): number {
    return this.view.getInt32(i * this.size + this.L.ringErr, true);
  }

  exitReason(i: number): number {
    return this.view.getUint32(i * this.size + this.L.ringExitReason, true);
  }

  tEnter(i: number): number {
    return this.view.getFloat64(i * this.size + this.L.ringTEnter, true);
  }

  tExit(i: number): number {
    return this.view.getFloat64(i * this.size + this.L.ringTExit, true);
  }

  ioOut(i: number): boolean {
    return this.view.getUint8(i * this.size + this.L.ringIoDirection) === 1;
  }

  ioSize(i: number): number {
    return this.view.getUint8(i * this.size + this.L.ringIoSize);
  }

  ioPort(i: number): number {
    return this.view.getUint16(i * this.size + this.L.ringIoPort, true);
  }

  ioCount(i: number): number {
    return this.view.getUint32(i * this.size + this.L.ringIoCount, true);
  }

  /** Offset of the IO data inside kvm_run (below a page: the high half is 0). */
  ioDataOffset(i: number): number {
    return this.view.getUint32(i * this.size + this.L.ringIoDataOffset, true);
  }

  /** The data of a single OUT of `size` (1, 2 or 4) bytes, as copied into the slot. */
  ioData(i: number, size: number): Uint8Array {
    return this.ioDataViews[i]![size - 1]!;
  }

  /** Where the vCPU is: RIP, CS base, and whether paging is on. */
  position(i: number): { rip: bigint; csBase: bigint; paging: boolean } {
    const regs = new DataView(this.regs[i]!.buffer, this.regs[i]!.byteOffset);
    const sregs = new DataView(this.sregs[i]!.buffer, this.sregs[i]!.byteOffset);
    return {
      rip: regs.getBigUint64(16 * 8, true),
      csBase: sregs.getBigUint64(0, true),
      paging: (sregs.getUint32(SREGS_CR0, true) & X86_CR0_PG) !== 0,
    };
  }
}
