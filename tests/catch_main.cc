#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
#include <spdlog/spdlog.h>

int main(int argc, char** argv) {
  // Construct spdlog's registry (a function-local static inside the shared
  // libspdlog) on this thread before any test starts threads that log. Else
  // the first log call may come from a worker thread (Fetcher's engine thread),
  // and ThreadSanitizer, which cannot see the uninstrumented library's static
  // guard, reports the main thread's later reads of it as a race. The daemons
  // do the same through InitLogging before they start threads.
  spdlog::default_logger_raw();
  return Catch::Session().run(argc, argv);
}
