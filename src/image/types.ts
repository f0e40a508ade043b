// What every image loader produces: the bytes to place in guest-physical memory and where to
// start. The boot profile (src/boot/profiles.ts) places these and checks them against RAM.
import type { BootMode } from '../trace/format.js';
import type { MultibootHeader } from './multiboot.js';

export type ImageFormat = 'flat' | 'elf32' | 'elf64' | 'multiboot-elf32' | 'multiboot-aout';

/** One contiguous piece of the image in guest-physical memory. */
export interface ImageSegment {
  /** Guest-physical load address. */
  address: number;
  /** The bytes stored there (an ELF segment's p_filesz bytes). */
  bytes: Uint8Array;
  /** Bytes the segment occupies (≥ bytes.length; the rest is zero: bss). */
  memSize: number;
  /** For messages: `segment 1 (PT_LOAD r-x)`, `the image`. */
  label: string;
  /** For the trace header: `image kernel.elf segment 1 (PT_LOAD r-x)`. */
  what: string;
}

export interface LoadedImage {
  /** The file name, as messages show it. */
  name: string;
  format: ImageFormat;
  /** The mode the image is built for (auto-detection's answer). */
  mode: BootMode;
  segments: ImageSegment[];
  /** Entry point: a physical (= linear) address; for real mode the linear address of CS:IP. */
  entry: number;
  /** Real-mode entry (flat images in real mode only). */
  realEntry?: { cs: number; ip: number };
  /** Present for multiboot images: the loader then passes EAX = 0x2BADB002, EBX = info. */
  multiboot?: MultibootHeader;
  /** Lowest load address (the trace header's guest.loadAddress). */
  loadAddress: number;
}
