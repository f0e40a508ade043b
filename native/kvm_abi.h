// ioctl numbers for KVM structs that end in a flexible array. The uapi header declares those
// arrays with __DECLARE_FLEX_ARRAY, which C++ sizes differently from C, so the _IOWR numbers it
// yields in C++ are wrong; these use the C sizes (the fixed part of each struct) instead.
#pragma once
#include <linux/kvm.h>

#include <cstdint>

namespace vmtrace {

struct KvmCpuid2Head {
  uint32_t nent;
  uint32_t padding;
};
struct KvmMsrsHead {
  uint32_t nmsrs;
  uint32_t pad;
};
static_assert(sizeof(KvmCpuid2Head) == 8 && sizeof(KvmMsrsHead) == 8, "C layout of the fixed part");
static_assert(sizeof(kvm_cpuid_entry2) == 40 && sizeof(kvm_msr_entry) == 16, "entry layout");

// Entries start right after the fixed part, as in C (C++ may place `entries` elsewhere).
inline kvm_cpuid_entry2* CpuidEntries(void* head) {
  return reinterpret_cast<kvm_cpuid_entry2*>(static_cast<char*>(head) + sizeof(KvmCpuid2Head));
}
inline kvm_msr_entry* MsrEntries(void* head) {
  return reinterpret_cast<kvm_msr_entry*>(static_cast<char*>(head) + sizeof(KvmMsrsHead));
}

constexpr unsigned long kGetSupportedCpuid = _IOWR(KVMIO, 0x05, KvmCpuid2Head);
constexpr unsigned long kSetCpuid2 = _IOW(KVMIO, 0x90, KvmCpuid2Head);
constexpr unsigned long kGetMsrs = _IOWR(KVMIO, 0x88, KvmMsrsHead);
constexpr unsigned long kSetMsrs = _IOW(KVMIO, 0x89, KvmMsrsHead);

}  // namespace vmtrace
