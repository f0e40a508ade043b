// The target description gdb reads through qXfer:features:read:target.xml: the architecture
// (how it disassembles) and every register of the layout, grouped in features.
import { FEATURE, type Architecture, type Layout } from './registers.js';

/** EFLAGS bits gdb shows by name (`eflags 0x46 [ IF ZF PF ]`). */
const EFLAGS_BITS: [string, number][] = [
  ['CF', 0], ['', 1], ['PF', 2], ['AF', 4], ['ZF', 6], ['SF', 7], ['TF', 8], ['IF', 9], ['DF', 10], ['OF', 11],
  ['NT', 14], ['RF', 16], ['VM', 17], ['AC', 18], ['VIF', 19], ['VIP', 20], ['ID', 21],
];

export function targetXml(layout: Layout, architecture: Architecture): string {
  const features = [FEATURE.core, FEATURE.segments, FEATURE.system].map((feature) => {
    const regs = layout.registers.filter((r) => r.feature === feature);
    const flags =
      feature === FEATURE.core
        ? [`<flags id="i386_eflags" size="4">`, ...EFLAGS_BITS.map(([name, bit]) => `<field name="${name}" start="${bit}" end="${bit}"/>`), '</flags>']
        : [];
    return [
      `<feature name="${feature}">`,
      ...flags,
      ...regs.map((r) => `<reg name="${r.name}" bitsize="${r.bits}" type="${r.type}"${r.group ? ` group="${r.group}"` : ''}/>`),
      '</feature>',
    ].join('\n');
  });
  return [
    '<?xml version="1.0"?>',
    '<!DOCTYPE target SYSTEM "gdb-target.dtd">',
    '<target version="1.0">',
    `<architecture>${architecture}</architecture>`,
    // bare-metal guest: without this gdb may pick the host's GNU/Linux ABI, which wants orig_eax
    '<osabi>none</osabi>',
    ...features,
    '</target>',
    '',
  ].join('\n');
}
