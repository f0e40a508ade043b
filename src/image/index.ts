// Guest image loaders: flat binaries, ELF32/ELF64 executables and multiboot (v1) kernels.
export { ImageError } from './errors.js';
export { detectImage, loadImage, readImageFile, DEFAULT_FLAT_LOAD, MAX_IMAGE_BYTES, type DetectedImage, type ImageOptions } from './load.js';
export { parseElf, isElf, elfVirtToPhys, type ElfFile, type ElfSegment } from './elf.js';
export {
  findMultibootHeader,
  MULTIBOOT_BOOTLOADER_MAGIC,
  MULTIBOOT_HEADER_MAGIC,
  type MultibootHeader,
} from './multiboot.js';
export type { ImageFormat, ImageSegment, LoadedImage } from './types.js';
