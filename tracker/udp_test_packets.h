// BEP 15 request packets for the tests of the UDP parser and server.
#pragma once

#include <cstdint>
#include <string>

#include "tracker/udp_proto.h"

namespace spate::udp_test {

inline std::string U32(uint32_t v) { return {char(v >> 24), char(v >> 16), char(v >> 8), char(v)}; }
inline std::string U64(uint64_t v) { return U32(uint32_t(v >> 32)) + U32(uint32_t(v)); }
inline std::string U16(uint16_t v) { return {char(v >> 8), char(v)}; }

inline std::string Connect(uint32_t tid) { return U64(kUdpProtocolId) + U32(0) + U32(tid); }

}  // namespace spate::udp_test
