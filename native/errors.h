// Turning a failed ioctl into a JS error that names the ioctl and the errno
// ("KVM_SET_SREGS failed: EINVAL (Invalid argument)").
#pragma once
#include <napi.h>
#include <string>

namespace vmtrace {

const char* ErrnoName(int err);

// Throws a JS Error with .ioctl, .code (errno name) and .errno set.
[[noreturn]] void ThrowErrno(Napi::Env env, const char* what, int err);

// Runs an ioctl, retrying on EINTR (setup ioctls are not meant to be interrupted).
int CheckedIoctl(Napi::Env env, int fd, unsigned long request, void* arg, const char* name);

}  // namespace vmtrace
