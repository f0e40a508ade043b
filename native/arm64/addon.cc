// vmtrace's native addon on arm64 hosts: /dev/kvm (KvmSystem), the VM (Vm) and the arm64 vCPU
// (A64Vcpu). src/arch/aarch64/record/kvm.ts is the typed TypeScript side.
#include <linux/kvm.h>
#include <napi.h>

#include <cstddef>

#include "../errors.h"
#include "../kvm_system.h"
#include "../vm.h"
#include "vcpu.h"

namespace vmtrace {

// Offsets into struct kvm_run and A64State, from the kernel header, so TypeScript never
// hard-codes them.
static Napi::Object RunLayout(Napi::Env env) {
  Napi::Object o = Napi::Object::New(env);
#define OFF(name, member) o.Set(name, Napi::Number::New(env, offsetof(kvm_run, member)))
  OFF("immediateExit", immediate_exit);
  OFF("exitReason", exit_reason);
  OFF("mmioPhysAddr", mmio.phys_addr);
  OFF("mmioData", mmio.data);
  OFF("mmioLen", mmio.len);
  OFF("mmioIsWrite", mmio.is_write);
  OFF("systemEventType", system_event.type);
  OFF("systemEventNdata", system_event.ndata);
  OFF("systemEventData", system_event.data);
  OFF("nisvEsrIss", arm_nisv.esr_iss);
  OFF("nisvFaultIpa", arm_nisv.fault_ipa);
  OFF("debugHsr", debug.arch.hsr);
  OFF("debugHsrHigh", debug.arch.hsr_high);
  OFF("debugFar", debug.arch.far);
  OFF("failEntryReason", fail_entry.hardware_entry_failure_reason);
  OFF("failEntryCpu", fail_entry.cpu);
  OFF("internalSuberror", internal.suberror);
  OFF("internalNdata", internal.ndata);
  OFF("internalData", internal.data);
#undef OFF
  o.Set("stateRegs", Napi::Number::New(env, offsetof(A64State, regs)));
  o.Set("stateSysregs", Napi::Number::New(env, offsetof(A64State, sysregs)));
  o.Set("stateTEnter", Napi::Number::New(env, offsetof(A64State, t_enter_ns)));
  o.Set("stateTExit", Napi::Number::New(env, offsetof(A64State, t_exit_ns)));
  o.Set("stateSize", Napi::Number::New(env, sizeof(A64State)));
  return o;
}

// enableVmCap(vm, cap) — KVM_ENABLE_CAP on the VM with no arguments (KVM_CAP_ARM_NISV_TO_USER).
static void EnableVmCap(const Napi::CallbackInfo& info) {
  Vm* vm = Vm::Unwrap(info[0].As<Napi::Object>());
  kvm_enable_cap cap{};
  cap.cap = info[1].As<Napi::Number>().Uint32Value();
  CheckedIoctl(info.Env(), vm->fd(), KVM_ENABLE_CAP, &cap, "KVM_ENABLE_CAP");
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("arch", Napi::String::New(env, "aarch64"));
  exports.Set("KvmSystem", KvmSystem::Define(env));
  exports.Set("Vm", Vm::Define(env));
  exports.Set("A64Vcpu", A64Vcpu::Define(env));
  exports.Set("enableVmCap", Napi::Function::New(env, EnableVmCap));
  exports.Set("runLayout", RunLayout(env));
  return exports;
}

NODE_API_MODULE(vmtrace_kvm, Init)

}  // namespace vmtrace
