// The stand-in artifact web@VERSION that tests register with a tracker over
// HTTP (POST /api/v1/artifacts). The tracker checks the registration's form,
// not the bytes behind it, so a placeholder torrent and signature do.
#pragma once

#include <string>

#include "wire/api.h"
#include "wire/http.h"

namespace spate::testing {

// web@VERSION: web.tar of 4096 bytes in 16 KiB pieces. Its info-hash is 39
// `fill`s and VERSION's first character, so versions differ and a test can
// keep its hashes apart from another's; `origin` is the seeder's address
// (empty: none).
ArtifactRegistration WebRegistration(const std::string& version, char fill = 'a', const std::string& origin = "");

// POSTs `r` to API/artifacts with `options` (the token); fails the test unless
// the tracker answers 200. Returns r's info-hash (hex).
std::string Register(const std::string& api, const ArtifactRegistration& r, const http::ClientOptions& options);

}  // namespace spate::testing
