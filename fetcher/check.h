// Deciding whether an assignment may be acted on, before anything touches disk or network.
#pragma once

#include <libtorrent/torrent_info.hpp>
#include <memory>

#include "wire/api.h"
#include "wire/crypto.h"
#include "wire/status.h"

namespace spate {

// Verifies the manifest signature with `trusted` FIRST, then parses the torrent
// bytes and requires: v1 info-hash == manifest.info_hash, exactly one file,
// named manifest.filename, of manifest.size bytes. Any failure is a non-ok
// Status whose message is fit for a "failed" report. Pure; thread-safe.
Result<std::shared_ptr<lt::torrent_info>> CheckAssignment(const Assignment& a, const VerifyKey& trusted);

}  // namespace spate
