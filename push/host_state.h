// The rule for a host's state within one push (see wire/api.h): it only moves
// forward, so a late or forged report cannot undo an outcome `spate push`
// already acted on. Pure, so the rule is tested on its own.
#pragma once

#include <string>

namespace spate {

// installed, failed, superseded and cancelled: the host is done with this push.
bool TerminalState(const std::string& state);
// Whether a row in state `from` may take the reported state `to`. Equal states
// are allowed (progress within a state); backwards and out of terminal are not.
bool MovesForward(const std::string& from, const std::string& to);

}  // namespace spate
