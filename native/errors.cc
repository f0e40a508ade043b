#include "errors.h"

#include <cerrno>
#include <cstring>
#include <sys/ioctl.h>

namespace vmtrace {

const char* ErrnoName(int err) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
  const char* name = strerrorname_np(err);
  if (name != nullptr) return name;
#endif
  switch (err) {
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case EINTR: return "EINTR";
    case EIO: return "EIO";
    case EBADF: return "EBADF";
    case EAGAIN: return "EAGAIN";
    case ENOMEM: return "ENOMEM";
    case EACCES: return "EACCES";
    case EFAULT: return "EFAULT";
    case EBUSY: return "EBUSY";
    case EEXIST: return "EEXIST";
    case ENXIO: return "ENXIO";
    case ENODEV: return "ENODEV";
    case EINVAL: return "EINVAL";
    case E2BIG: return "E2BIG";
    case ENOTTY: return "ENOTTY";
    case ENOSPC: return "ENOSPC";
    case ENOSYS: return "ENOSYS";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    default: return "E?";
  }
}

void ThrowErrno(Napi::Env env, const char* what, int err) {
  std::string msg = std::string(what) + " failed: " + ErrnoName(err) + " (" + strerror(err) + ")";
  Napi::Error error = Napi::Error::New(env, msg);
  error.Set("ioctl", Napi::String::New(env, what));
  error.Set("code", Napi::String::New(env, ErrnoName(err)));
  error.Set("errno", Napi::Number::New(env, err));
  throw error;
}

int CheckedIoctl(Napi::Env env, int fd, unsigned long request, void* arg, const char* name) {
  int ret;
  do {
    ret = ioctl(fd, request, arg);
  } while (ret < 0 && errno == EINTR);
  if (ret < 0) ThrowErrno(env, name, errno);
  return ret;
}

}  // namespace vmtrace
