// The --whitelist file: info-hashes the tracker serves without a control-API
// registration (e.g. torrents made outside Spate).
//
//   # comment ('#' anywhere starts a comment to the end of the line)
//   0123456789abcdef0123456789abcdef01234567
//   89ABCDEF89ABCDEF89ABCDEF89ABCDEF89ABCDEF   # upper case is fine
//
// One 40-hex-digit v1 info-hash per line; blank lines are ignored; a repeated
// hash is accepted (lists are often concatenated).
#pragma once

#include <string>
#include <vector>

#include "wire/status.h"

namespace spate {

// Raw 20-byte hashes, in file order, without duplicates. Errors read
// "FILENAME:LINE: what is wrong". Pure: `filename` only labels errors.
Result<std::vector<std::string>> ParseWhitelist(const std::string& text, const std::string& filename);
Result<std::vector<std::string>> LoadWhitelist(const std::string& path);

}  // namespace spate
