// Versions, the last error, status names and the thread count.
#include <algorithm>
#include <string>
#include <thread>

#include "capi/guard.h"
#include "kernels/parallel.h"

namespace persam::capi {
namespace {
thread_local std::string last_error;
}  // namespace

persam_status Fail(persam_status status, const std::string& message) {
  last_error = message;
  return status;
}

persam_status Succeed() {
  last_error.clear();
  return PERSAM_OK;
}

}  // namespace persam::capi

extern "C" {

int persam_api_version(void) { return PERSAM_API_VERSION; }

const char* persam_version(void) { return PERSAM_VERSION; }

const char* persam_last_error(void) { return persam::capi::last_error.c_str(); }

const char* persam_status_name(persam_status status) {
  switch (persam::capi::EnumValue(status)) {  // any int from C
    case PERSAM_OK: return "PERSAM_OK";
    case PERSAM_ERROR_INVALID_ARGUMENT: return "PERSAM_ERROR_INVALID_ARGUMENT";
    case PERSAM_ERROR_ENGINE: return "PERSAM_ERROR_ENGINE";
    case PERSAM_ERROR_OUT_OF_MEMORY: return "PERSAM_ERROR_OUT_OF_MEMORY";
    case PERSAM_ERROR_INTERNAL: return "PERSAM_ERROR_INTERNAL";
  }
  return "PERSAM_STATUS_UNKNOWN";
}

persam_status persam_set_num_threads(int threads) {
  return persam::capi::Guard("persam_set_num_threads", [&] {
    const int max = persam::kernels::MaxThreads();
    if (threads > max) {
      throw persam::capi::InvalidArgument{"threads " + std::to_string(threads) + " is more than 4 per core (at most " +
                                          std::to_string(max) + " here)"};
    }
    persam::kernels::SetNumThreads(threads);
  });
}

}  // extern "C"
