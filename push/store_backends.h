// The two Store backends (push/store.h) and the change notices PostgreSQL
// sends between control-plane processes. Private to push/.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "push/store.h"

namespace spate {

Result<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path);
Result<std::unique_ptr<Store>> OpenPostgresStore(const std::string& url);

// The NOTIFY payloads for `c`, each under PostgreSQL's 8000-byte limit (a
// long host list is split over several), and the change a payload names
// (nullopt for one this version does not know).
std::vector<std::string> ChangePayloads(const StoreChange& c);
std::optional<StoreChange> ParseChangePayload(const std::string& payload);

// The SQL condition, over the existing row `push_hosts` and the new row
// `excluded`, under which an upsert replaces a push host row: an outcome
// (a terminal state) stands; only its own state may be written over it.
extern const char* const kRowUpsertGuard;

}  // namespace spate
