#include "push/host_state.h"

#include <catch2/catch.hpp>

#include "wire/api.h"

using namespace spate;

TEST_CASE("a host's state in a push only moves forward") {
  CHECK(MovesForward(kStatePending, kStateDownloading));
  CHECK(MovesForward(kStateDownloading, kStateDownloading));  // progress within a state
  CHECK(MovesForward(kStateDownloading, kStateInstalled));
  CHECK(MovesForward(kStateVerifying, kStateFailed));
  CHECK_FALSE(MovesForward(kStateVerifying, kStateDownloading));
  CHECK_FALSE(MovesForward(kStateInstalled, kStateDownloading));
  CHECK_FALSE(MovesForward(kStateInstalled, kStateFailed));
  CHECK_FALSE(MovesForward(kStateFailed, kStateInstalled));
  CHECK_FALSE(MovesForward(kStateSuperseded, kStateInstalled));
  CHECK(MovesForward(kStateInstalled, kStateInstalled));
  CHECK(MovesForward(kStateVerifying, kStateStaged));  // distributed, waiting to activate
  CHECK(MovesForward(kStateStaged, kStateInstalled));
  CHECK(MovesForward(kStateStaged, kStateFailed));
  CHECK_FALSE(MovesForward(kStateStaged, kStateDownloading));
  CHECK_FALSE(MovesForward(kStateInstalled, kStateStaged));
  CHECK_FALSE(TerminalState(kStateStaged));
  CHECK(TerminalState(kStateSuperseded));
  CHECK_FALSE(TerminalState(kStateVerifying));
  CHECK(TerminalState(kStateCancelled));
  CHECK_FALSE(MovesForward(kStateCancelled, kStateInstalled));  // a late report after cancel
}
