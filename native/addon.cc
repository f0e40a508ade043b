// vmtrace's native addon: a thin, typed wrapper over /dev/kvm (see src/record/kvm.ts).
#include <linux/kvm.h>
#include <napi.h>

#include <cstddef>

#include "kvm_system.h"
#include "vcpu.h"
#include "vm.h"

namespace vmtrace {

// Offsets into struct kvm_run, taken from the kernel header so TypeScript never hard-codes them.
static Napi::Object RunLayout(Napi::Env env) {
  Napi::Object o = Napi::Object::New(env);
#define OFF(name, member) o.Set(name, Napi::Number::New(env, offsetof(kvm_run, member)))
  OFF("immediateExit", immediate_exit);
  OFF("exitReason", exit_reason);
  OFF("ioDirection", io.direction);
  OFF("ioSize", io.size);
  OFF("ioPort", io.port);
  OFF("ioCount", io.count);
  OFF("ioDataOffset", io.data_offset);
  OFF("mmioPhysAddr", mmio.phys_addr);
  OFF("mmioData", mmio.data);
  OFF("mmioLen", mmio.len);
  OFF("mmioIsWrite", mmio.is_write);
  OFF("failEntryReason", fail_entry.hardware_entry_failure_reason);
  OFF("failEntryCpu", fail_entry.cpu);
  OFF("internalSuberror", internal.suberror);
  OFF("internalNdata", internal.ndata);
  OFF("internalData", internal.data);
  OFF("debugException", debug.arch.exception);
  OFF("debugPc", debug.arch.pc);
  OFF("debugDr6", debug.arch.dr6);
  OFF("systemEventType", system_event.type);
  OFF("syncRegs", s.regs.regs);
  OFF("syncSregs", s.regs.sregs);
#undef OFF
#define RING(name, member) o.Set(name, Napi::Number::New(env, offsetof(ExitSnapshot, member)))
  RING("ringErr", err);
  RING("ringExitReason", exit_reason);
  RING("ringTEnter", t_enter_ns);
  RING("ringTExit", t_exit_ns);
  RING("ringRegs", regs);
  RING("ringSregs", sregs);
  RING("ringIoDirection", io_direction);
  RING("ringIoSize", io_size);
  RING("ringIoPort", io_port);
  RING("ringIoCount", io_count);
  RING("ringIoDataOffset", io_data_offset);
  RING("ringIoData", io_data);
#undef RING
  o.Set("ringSlotSize", Napi::Number::New(env, sizeof(ExitSnapshot)));
  o.Set("ringSlots", Napi::Number::New(env, kExitRingSlots));
  o.Set("regsSize", Napi::Number::New(env, sizeof(kvm_regs)));
  o.Set("sregsSize", Napi::Number::New(env, sizeof(kvm_sregs)));
  o.Set("segmentSize", Napi::Number::New(env, sizeof(kvm_segment)));
  o.Set("sregsCr0", Napi::Number::New(env, offsetof(kvm_sregs, cr0)));
  return o;
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("KvmSystem", KvmSystem::Define(env));
  exports.Set("Vm", Vm::Define(env));
  exports.Set("Vcpu", Vcpu::Define(env));
  exports.Set("runLayout", RunLayout(env));
  return exports;
}

NODE_API_MODULE(vmtrace_kvm, Init)

}  // namespace vmtrace
