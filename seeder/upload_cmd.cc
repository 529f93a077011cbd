#include <cstdio>

namespace spate {
int UploadCommand(int argc, char** argv) {
  std::fprintf(stderr, "not implemented yet\n");
  return 2;
}
}  // namespace spate
