#include "wire/config.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>
#include <sstream>
#include <stdexcept>

#include "wire/fs.h"

namespace spate {

namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r'; }

std::string Trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && IsSpace(s[b])) ++b;
  while (e > b && IsSpace(s[e - 1])) --e;
  return s.substr(b, e - b);
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return s;
}

// The value part of a line (what follows the key and its '='). Sets *present
// to false when there is none (only a comment, or nothing).
Result<std::string> ParseValue(const std::string& rest, bool had_equals, bool* present) {
  *present = had_equals;
  if (rest.empty() || rest[0] == '#') return std::string();
  *present = true;
  if (rest[0] == '"' || rest[0] == '\'') {
    size_t close = rest.find(rest[0], 1);
    if (close == std::string::npos) return Status::Invalid(std::string("no closing ") + rest[0]);
    std::string after = Trim(rest.substr(close + 1));
    if (!after.empty() && after[0] != '#') return Status::Invalid("text after the closing quote: '" + after + "'");
    return rest.substr(1, close - 1);
  }
  // A '#' inside a word is part of the value (a URL fragment, "a#b"); only
  // one after a space starts a comment.
  size_t end = rest.size();
  for (size_t i = 1; i < rest.size(); ++i)
    if (rest[i] == '#' && IsSpace(rest[i - 1])) {
      end = i;
      break;
    }
  return Trim(rest.substr(0, end));
}

}  // namespace

Result<std::vector<ConfigArg>> ParseConfig(const std::string& text, const std::string& path,
                                           const std::vector<ConfigKey>& keys) {
  std::vector<ConfigArg> out;
  std::map<std::string, int> first_line;
  std::istringstream in(text);
  std::string raw;
  for (int n = 1; std::getline(in, raw); ++n) {
    std::string line = Trim(raw);
    auto fail = [&](const std::string& what) { return Status::Invalid(path + ":" + std::to_string(n) + ": " + what); };
    if (line.empty() || line[0] == '#') continue;

    size_t key_end = 0;
    while (key_end < line.size() && !IsSpace(line[key_end]) && line[key_end] != '=') ++key_end;
    std::string name = line.substr(0, key_end);
    std::string rest = Trim(line.substr(key_end));
    bool had_equals = !rest.empty() && rest[0] == '=';
    if (had_equals) rest = Trim(rest.substr(1));

    auto key = std::find_if(keys.begin(), keys.end(), [&](const ConfigKey& k) { return k.name == name; });
    if (key == keys.end()) {
      if (name.rfind("-", 0) == 0) return fail("unknown key '" + name + "' (write keys without the leading '--')");
      return fail("unknown key '" + name + "'");
    }
    auto [seen, inserted] = first_line.emplace(name, n);
    if (!inserted && !key->repeatable)
      return fail("'" + name + "' is already set on line " + std::to_string(seen->second));

    bool present = false;
    auto value = ParseValue(rest, had_equals, &present);
    if (!value.ok()) return fail(value.status().message());
    if (key->boolean) {
      std::string v = Lower(*value);
      if (!present || v == "true" || v == "yes" || v == "on" || v == "1") {
        out.push_back({n, name, "--" + name});
      } else if (v != "false" && v != "no" && v != "off" && v != "0") {
        return fail("'" + name + "' is a switch: want true or false, not '" + *value + "'");
      }
      continue;
    }
    if (!present) return fail("'" + name + "' needs a value (" + name + " = VALUE)");
    out.push_back({n, name, "--" + name + "=" + *value});
  }
  return out;
}

std::vector<ConfigKey> ConfigKeys(const cxxopts::Options& opts) {
  std::vector<ConfigKey> keys;
  for (const auto& group : opts.groups())
    for (const auto& o : opts.group_help(group).options)
      for (const auto& name : o.l)
        if (name != "help" && name != "config") keys.push_back({name, o.is_boolean, o.is_container});
  return keys;
}

cxxopts::ParseResult ParseWithConfig(cxxopts::Options& opts, int argc, char** argv) {
  opts.add_options()("config",
                     "read flags from FILE: 'key = value' lines with the flags' names, '#' comments; "
                     "flags given here win over the file",
                     cxxopts::value<std::string>(), "FILE");
  // The first pass only finds --config, with the parser's own rules (a flag's
  // value that happens to read "--config" is not mistaken for it).
  cxxopts::ParseResult first = opts.parse(argc, argv);
  if (first.count("config") == 0) return first;
  if (first.count("config") > 1) throw std::runtime_error("--config given more than once");
  std::string path = first["config"].as<std::string>();

  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw std::runtime_error(path + ": is a directory, not a config file");
  auto text = ReadFile(path);
  if (!text.ok()) throw std::runtime_error(text.status().message());
  auto parsed = ParseConfig(*text, path, ConfigKeys(opts));
  if (!parsed.ok()) throw std::runtime_error(parsed.status().message());

  std::vector<const char*> args{argv[0]};
  for (const ConfigArg& a : *parsed) {
    // Each value is checked alone first, so a bad one ("bridges = many") is
    // reported with its line rather than as an anonymous parse error.
    const char* one[] = {argv[0], a.arg.c_str()};
    try {
      opts.parse(2, one);
    } catch (const std::exception& e) {
      throw std::runtime_error(path + ":" + std::to_string(a.line) + ": " + a.key + ": " + e.what());
    }
    args.push_back(a.arg.c_str());
  }
  args.insert(args.end(), argv + 1, argv + argc);
  return opts.parse(int(args.size()), args.data());
}

}  // namespace spate
