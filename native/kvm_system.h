// /dev/kvm itself: API version, capabilities, supported CPUID, vCPU mmap size.
#pragma once
#include <napi.h>

namespace vmtrace {

class KvmSystem : public Napi::ObjectWrap<KvmSystem> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit KvmSystem(const Napi::CallbackInfo& info);
  ~KvmSystem() override;
  int fd() const { return fd_; }

 private:
  Napi::Value ApiVersion(const Napi::CallbackInfo& info);
  Napi::Value CheckExtension(const Napi::CallbackInfo& info);
  Napi::Value VcpuMmapSize(const Napi::CallbackInfo& info);
#if defined(__x86_64__)
  Napi::Value SupportedCpuid(const Napi::CallbackInfo& info);
#endif

  int fd_ = -1;
};

}  // namespace vmtrace
