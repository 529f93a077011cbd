#include "push/host_state.h"

#include "wire/api.h"

namespace spate {

namespace {

// Progress order; the terminal states share the last rank.
int Rank(const std::string& s) {
  if (s == kStatePending) return 0;
  if (s == kStateDownloading) return 1;
  if (s == kStateVerifying) return 2;
  if (s == kStateStaged) return 3;
  return 4;
}

}  // namespace

bool TerminalState(const std::string& state) {
  return state == kStateInstalled || state == kStateFailed || state == kStateSuperseded || state == kStateCancelled;
}

bool MovesForward(const std::string& from, const std::string& to) {
  if (TerminalState(from)) return from == to;
  return Rank(to) >= Rank(from);
}

}  // namespace spate
