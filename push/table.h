// Plain-text tables for the release manager's commands: columns padded to
// their widest cell, two spaces apart, no trailing blanks (so output diffs
// and golden tests stay clean).
#pragma once

#include <string>
#include <vector>

namespace spate {

// One line per row, the first row usually the header. Rows may be ragged;
// missing cells are empty. Widths count bytes (cells are ASCII).
std::string RenderTable(const std::vector<std::vector<std::string>>& rows);

}  // namespace spate
