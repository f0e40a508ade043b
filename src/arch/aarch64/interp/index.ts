export { A64Cpu } from './cpu.js';
export { disassemble } from './table.js';
export { MIDR_EL1, MPIDR_EL1, type A64Ram, type A64Stop } from './types.js';
