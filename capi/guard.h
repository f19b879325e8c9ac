// The C API's error boundary: the thread-local last-error message, and
// Guard(), which runs a call's C++ body and turns every exception into a
// status code (no exception ever crosses into C).
#ifndef PERSAM_CAPI_GUARD_H_
#define PERSAM_CAPI_GUARD_H_

#include <cstring>
#include <string>

#include "include/persam/persam.h"

namespace persam::capi {

// Records `message` as this thread's last error and returns `status`.
persam_status Fail(persam_status status, const std::string& message);
// Clears this thread's last error; returns PERSAM_OK.
persam_status Succeed();

template <class Body>
persam_status Guard(const char* function, const Body& body);

// The integer a caller stored in an enum of the C API (persam_precision, a
// persam_status passed back in): C allows any int there, but a C++ load of a
// value outside the enumeration's range is undefined behaviour (UBSan: "load
// of value 9, which is not a valid value for type 'persam_precision'"), so
// the bytes are read as the int they are.
template <class Enum>
int EnumValue(const Enum& value) {
  static_assert(sizeof(Enum) == sizeof(int), "the C API's enums are int-sized");
  int v;
  std::memcpy(&v, &value, sizeof(v));
  return v;
}

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
