// The device kinds `vmtrace record` can attach, the default set, and the CLI's device specs
// (`uart@0x2f8`, `--devices console,exit`, `--no-device uart`). docs/devices.md documents them.
import { acpiPowerOffType } from './acpi-poweroff.js';
import { consoleType } from './console.js';
import { debugconType } from './debugcon.js';
import type { DeviceContext, MmioBus, MmioDevice, PortBus, PortDeviceType } from './device.js';
import { exitRegisterType } from './exit-register.js';
import { inputPortType } from './input-port.js';
import { isaDebugExitType } from './isa-debug-exit.js';
import { pl011Type } from './pl011.js';
import { uart16550Type } from './uart16550.js';

/** Every port device, in the order the default set attaches them. */
export const DEVICE_TYPES: readonly PortDeviceType[] = [consoleType, debugconType, uart16550Type, inputPortType, isaDebugExitType, acpiPowerOffType];

/** Attached when no --devices list is given. */
export const DEFAULT_DEVICE_LIST = 'console,debugcon,uart16550,input,isa-debug-exit,acpi-poweroff';

export interface DeviceSpec {
  type: PortDeviceType;
  base: number;
}

export class DeviceSpecError extends Error {
  override name = 'DeviceSpecError';
}

export function findDeviceType(name: string): PortDeviceType | undefined {
  const n = name.trim().toLowerCase();
  return DEVICE_TYPES.find((t) => t.name === n || t.aliases.includes(n));
}

function knownNames(): string {
  return DEVICE_TYPES.map((t) => `${t.name} (${t.aliases.join(', ')})`).join('; ');
}

function parsePort(text: string, spec: string): number {
  const t = text.trim().toLowerCase();
  const v = /^(0x[0-9a-f]+|\d+)$/.test(t) ? Number(t) : NaN;
  if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw new DeviceSpecError(`device '${spec}': '${text}' is not an I/O port (0 to 0xffff)`);
  return v;
}

/** `uart`, `uart@0x2f8`, `isa-debug-exit@0x501`. */
export function parseDeviceSpec(text: string): DeviceSpec {
  const [name, at, ...rest] = text.split('@');
  if (rest.length || !name) throw new DeviceSpecError(`device '${text}' is not NAME or NAME@PORT`);
  const type = findDeviceType(name);
  if (!type) throw new DeviceSpecError(`unknown device '${name}'; known: ${knownNames()}`);
  const base = at === undefined ? type.defaultBase : parsePort(at, text);
  if (base + type.ports > 0x10000) throw new DeviceSpecError(`device '${text}': ${type.ports} ports from 0x${base.toString(16)} run past 0xffff`);
  return { type, base };
}

/** A comma-separated list of specs; `none` (or an empty list) attaches nothing. */
export function parseDeviceList(text: string): DeviceSpec[] {
  const t = text.trim();
  if (t === '' || t.toLowerCase() === 'none') return [];
  return t.split(',').map((s) => parseDeviceSpec(s));
}

export interface DeviceChoice {
  /** --devices: the whole set (default DEFAULT_DEVICE_LIST). */
  devices?: string;
  /** --device (repeatable): add NAME@PORT, or move the set's NAME there. */
  add?: string[];
  /** --no-device (repeatable): drop every NAME from the set. */
  remove?: string[];
  /** --console-port (kept from the seed): same as --device console@PORT. */
  consolePort?: number;
}

/** The devices to attach, in order; throws DeviceSpecError for bad names or clashing ports. */
export function resolveDevices(choice: DeviceChoice = {}): DeviceSpec[] {
  let specs = parseDeviceList(choice.devices ?? DEFAULT_DEVICE_LIST);
  const place = (spec: DeviceSpec) => {
    const i = specs.findIndex((s) => s.type === spec.type);
    specs = specs.filter((s) => s.type !== spec.type);
    specs.splice(i < 0 ? specs.length : i, 0, spec);
  };
  if (choice.consolePort !== undefined) place({ type: DEVICE_TYPES[0]!, base: parsePort(String(choice.consolePort), 'console') });
  for (const a of choice.add ?? []) place(parseDeviceSpec(a));
  for (const r of choice.remove ?? []) {
    const type = findDeviceType(r);
    if (!type) throw new DeviceSpecError(`unknown device '${r}'; known: ${knownNames()}`);
    specs = specs.filter((s) => s.type !== type);
  }
  checkClashes(specs);
  return specs;
}

function checkClashes(specs: DeviceSpec[]): void {
  for (let i = 0; i < specs.length; i++) {
    for (let j = i + 1; j < specs.length; j++) {
      const a = specs[i]!;
      const b = specs[j]!;
      if (a.base < b.base + b.type.ports && b.base < a.base + a.type.ports) {
        const range = (s: DeviceSpec) => `0x${s.base.toString(16)}${s.type.ports > 1 ? `-0x${(s.base + s.type.ports - 1).toString(16)}` : ''}`;
        throw new DeviceSpecError(`devices clash: ${a.type.name} at ${range(a)} and ${b.type.name} at ${range(b)} share ports`);
      }
    }
  }
}

/** `console@0xf1,debugcon@0xe9,…`: the canonical spelling of a set (recorded in the header options). */
export function formatDeviceList(specs: DeviceSpec[]): string {
  return specs.map((s) => `${s.type.name}@0x${s.base.toString(16)}`).join(',') || 'none';
}

/** Creates each device and registers its port range on the bus, in order. */
export function attachDevices(bus: PortBus, specs: DeviceSpec[], ctx: DeviceContext): void {
  for (const s of specs) bus.register(s.base, s.type.ports, s.type.create(ctx, s.base));
}

/** A kind of MMIO device (aarch64 guests: pl011.ts, exit-register.ts). */
export interface MmioDeviceType {
  readonly name: string;
  readonly defaultBase: number;
  /** Bytes claimed from the base. */
  readonly length: number;
  readonly summary: string;
  create(ctx: DeviceContext, base: number): MmioDevice;
}

/** The devices an aarch64 guest gets, at QEMU virt's addresses (no --devices choice yet). */
export const A64_DEVICE_TYPES: readonly MmioDeviceType[] = [pl011Type, exitRegisterType];

/** Creates each MMIO device at its default base and registers it on the bus. */
export function attachMmioDevices(bus: MmioBus, types: readonly MmioDeviceType[], ctx: DeviceContext): void {
  for (const t of types) bus.register(t.defaultBase, t.length, t.create(ctx, t.defaultBase));
}
