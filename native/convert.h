// Conversions between KVM's register structs and plain JS objects (bigints for 64-bit fields).
// Field names follow struct kvm_regs / kvm_sregs exactly, as src/cpu-state.ts does.
#pragma once
#include <linux/kvm.h>
#include <napi.h>

namespace vmtrace {

Napi::Object RegsToJs(Napi::Env env, const kvm_regs& regs);
kvm_regs RegsFromJs(const Napi::Object& obj);
Napi::Object SregsToJs(Napi::Env env, const kvm_sregs& sregs);
// Starts from `base` so fields the caller leaves out (interrupt_bitmap) keep KVM's values.
kvm_sregs SregsFromJs(const Napi::Object& obj, const kvm_sregs& base);

uint64_t BigIntField(const Napi::Object& obj, const char* name);
uint32_t NumberField(const Napi::Object& obj, const char* name);

}  // namespace vmtrace
