// Guard()'s body (a template, so each call site's lambda inlines).
#include <exception>
#include <new>

#include "base/error.h"

namespace persam::capi {

// Thrown inside a Guard body for an argument the C layer rejects.
struct InvalidArgument {
  std::string message;
};

template <class Body>
persam_status Guard(const char* function, const Body& body) {
  try {
    body();
    return Succeed();
  } catch (const InvalidArgument& e) {
    return Fail(PERSAM_ERROR_INVALID_ARGUMENT, std::string(function) + ": " + e.message);
  } catch (const Error& e) {
    return Fail(PERSAM_ERROR_ENGINE, std::string(function) + ": " + e.what());
  } catch (const std::bad_alloc&) {
    return Fail(PERSAM_ERROR_OUT_OF_MEMORY, std::string(function) + ": out of memory");
  } catch (const std::exception& e) {
    return Fail(PERSAM_ERROR_INTERNAL, std::string(function) + ": internal error: " + e.what());
  } catch (...) {
    return Fail(PERSAM_ERROR_INTERNAL, std::string(function) + ": internal error (unknown exception)");
  }
}

}  // namespace persam::capi
