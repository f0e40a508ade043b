#include "vm.h"

#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>

#include "errors.h"
#include "kvm_system.h"

namespace vmtrace {

Napi::Function Vm::Define(Napi::Env env) {
  return DefineClass(env, "Vm",
                     {
                         InstanceMethod<&Vm::AddMemory>("addMemory"),
#if defined(__x86_64__)
                         InstanceMethod<&Vm::SetTssAddr>("setTssAddr"),
#endif
                     });
}

// new Vm(kvmSystem)
Vm::Vm(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Vm>(info) {
  KvmSystem* kvm = KvmSystem::Unwrap(info[0].As<Napi::Object>());
  fd_ = CheckedIoctl(info.Env(), kvm->fd(), KVM_CREATE_VM, nullptr, "KVM_CREATE_VM");
}

Vm::~Vm() {
  for (const Mapping& m : mappings_) munmap(m.addr, m.size);
  if (fd_ >= 0) close(fd_);
}

// addMemory(slot, guestPhysAddr, size) -> ArrayBuffer over the new slot's host memory.
// The memory is owned by the Vm (unmapped when it is collected), so the buffer needs no finalizer.
Napi::Value Vm::AddMemory(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t slot = info[0].As<Napi::Number>().Uint32Value();
  uint64_t gpa = static_cast<uint64_t>(info[1].As<Napi::Number>().Int64Value());
  size_t size = static_cast<size_t>(info[2].As<Napi::Number>().Int64Value());
  void* host = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (host == MAP_FAILED) ThrowErrno(env, "mmap guest memory", errno);
  kvm_userspace_memory_region region{};
  region.slot = slot;
  region.guest_phys_addr = gpa;
  region.memory_size = size;
  region.userspace_addr = reinterpret_cast<uint64_t>(host);
  if (ioctl(fd_, KVM_SET_USER_MEMORY_REGION, &region) < 0) {
    int err = errno;
    munmap(host, size);
    ThrowErrno(env, "KVM_SET_USER_MEMORY_REGION", err);
  }
  mappings_.push_back({host, size});
  return Napi::ArrayBuffer::New(env, host, size);
}

#if defined(__x86_64__)
// Intel VMX needs three pages for a real-mode TSS below 4 GiB; other hosts accept and ignore it.
void Vm::SetTssAddr(const Napi::CallbackInfo& info) {
  unsigned long addr = static_cast<unsigned long>(info[0].As<Napi::Number>().Int64Value());
  CheckedIoctl(info.Env(), fd_, KVM_SET_TSS_ADDR, reinterpret_cast<void*>(addr), "KVM_SET_TSS_ADDR");
}
#endif

}  // namespace vmtrace
