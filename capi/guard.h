// The C API's error boundary: the thread-local last-error message, and
// Guard(), which runs a call's C++ body and turns every exception into a
// status code (no exception ever crosses into C).
#ifndef PERSAM_CAPI_GUARD_H_
#define PERSAM_CAPI_GUARD_H_

#include <string>

#include "include/persam/persam.h"

namespace persam::capi {

// Records `message` as this thread's last error and returns `status`.
persam_status Fail(persam_status status, const std::string& message);
// Clears this thread's last error; returns PERSAM_OK.
persam_status Succeed();

template <class Body>
persam_status Guard(const char* function, const Body& body);

// Checks that a pointer argument is not NULL.
#define PERSAM_CAPI_REQUIRE(ptr, function)                                                    \
  do {                                                                                        \
    if ((ptr) == nullptr) {                                                                   \
      return ::persam::capi::Fail(PERSAM_ERROR_INVALID_ARGUMENT,                              \
                                  std::string(function) + ": argument '" #ptr "' is NULL");  \
    }                                                                                         \
  } while (0)

}  // namespace persam::capi

#include "capi/guard-inl.h"

#endif  // PERSAM_CAPI_GUARD_H_
