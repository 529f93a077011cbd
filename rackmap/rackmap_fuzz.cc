// libFuzzer: any file text is accepted or rejected with a Status; what is
// accepted answers lookups.
#include <cstddef>
#include <cstdint>
#include <string>

#include "rackmap/rackmap.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto m = spate::Rackmap::Parse(text, "fuzz");
  if (!m.ok()) {
    if (m.status().message().rfind("fuzz:", 0) != 0) __builtin_trap();  // errors always name file:line
    return 0;
  }
  for (const char* a : {"10.1.2.3", "127.0.1.1", "0.0.0.0", "255.255.255.255", "::1", "2001:db8::1", "::ffff:10.1.2.3"})
    (void)m->Lookup(std::string(a)).ToString();
  (void)m->Summary();
  return 0;
}
