#include "kvm_system.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

#include "errors.h"
#if defined(__x86_64__)
#include "kvm_abi.h"
#endif

namespace vmtrace {

Napi::Function KvmSystem::Define(Napi::Env env) {
  return DefineClass(env, "KvmSystem",
                     {
                         InstanceMethod<&KvmSystem::ApiVersion>("apiVersion"),
                         InstanceMethod<&KvmSystem::CheckExtension>("checkExtension"),
                         InstanceMethod<&KvmSystem::VcpuMmapSize>("vcpuMmapSize"),
#if defined(__x86_64__)
                         InstanceMethod<&KvmSystem::SupportedCpuid>("supportedCpuid"),
#endif
                     });
}

// new KvmSystem(path = "/dev/kvm")
KvmSystem::KvmSystem(const Napi::CallbackInfo& info) : Napi::ObjectWrap<KvmSystem>(info) {
  std::string path = info.Length() > 0 && info[0].IsString() ? info[0].As<Napi::String>().Utf8Value()
                                                             : "/dev/kvm";
  fd_ = open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd_ < 0) ThrowErrno(info.Env(), ("open " + path).c_str(), errno);
}

KvmSystem::~KvmSystem() {
  if (fd_ >= 0) close(fd_);
}

Napi::Value KvmSystem::ApiVersion(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(),
                           CheckedIoctl(info.Env(), fd_, KVM_GET_API_VERSION, nullptr, "KVM_GET_API_VERSION"));
}

Napi::Value KvmSystem::CheckExtension(const Napi::CallbackInfo& info) {
  long cap = info[0].As<Napi::Number>().Int64Value();
  return Napi::Number::New(
      info.Env(), CheckedIoctl(info.Env(), fd_, KVM_CHECK_EXTENSION, reinterpret_cast<void*>(cap),
                               "KVM_CHECK_EXTENSION"));
}

Napi::Value KvmSystem::VcpuMmapSize(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), CheckedIoctl(info.Env(), fd_, KVM_GET_VCPU_MMAP_SIZE, nullptr,
                                                    "KVM_GET_VCPU_MMAP_SIZE"));
}

#if defined(__x86_64__)  // CPUID is x86 only
// Returns [{function, index, flags, eax, ebx, ecx, edx}] as KVM_GET_SUPPORTED_CPUID reports them.
Napi::Value KvmSystem::SupportedCpuid(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  for (unsigned n = 64;; n *= 2) {
    std::vector<char> buf(sizeof(KvmCpuid2Head) + n * sizeof(kvm_cpuid_entry2));
    auto* cpuid = reinterpret_cast<KvmCpuid2Head*>(buf.data());
    kvm_cpuid_entry2* entries = CpuidEntries(cpuid);
    cpuid->nent = n;
    if (ioctl(fd_, kGetSupportedCpuid, cpuid) < 0) {
      if (errno == E2BIG && n < 4096) continue;
      ThrowErrno(env, "KVM_GET_SUPPORTED_CPUID", errno);
    }
    Napi::Array out = Napi::Array::New(env, cpuid->nent);
    for (unsigned i = 0; i < cpuid->nent; i++) {
      const kvm_cpuid_entry2& e = entries[i];
      Napi::Object o = Napi::Object::New(env);
      o.Set("function", e.function);
      o.Set("index", e.index);
      o.Set("flags", e.flags);
      o.Set("eax", e.eax);
      o.Set("ebx", e.ebx);
      o.Set("ecx", e.ecx);
      o.Set("edx", e.edx);
      out.Set(i, o);
    }
    return out;
  }
}
#endif

}  // namespace vmtrace
