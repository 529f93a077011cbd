#include <cstdio>

namespace spate {
int SeederCommand(int argc, char** argv) {
  std::fprintf(stderr, "not implemented yet\n");
  return 2;
}
}  // namespace spate
