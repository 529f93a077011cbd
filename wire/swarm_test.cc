#include "wire/swarm.h"

#include <catch2/catch.hpp>
#include <libtorrent/settings_pack.hpp>

namespace spate {
namespace {

TEST_CASE("libtorrent overrides set ints, bools and strings by name and reject the rest") {
  lt::settings_pack s;
  CHECK(ApplyOverride(s, "unchoke_slots_limit=16").ok());
  CHECK(s.get_int(lt::settings_pack::unchoke_slots_limit) == 16);
  CHECK(ApplyOverride(s, "enable_dht=true").ok());
  CHECK(s.get_bool(lt::settings_pack::enable_dht));
  CHECK(ApplyOverride(s, "user_agent=x/1").ok());
  CHECK(s.get_str(lt::settings_pack::user_agent) == "x/1");
  CHECK_FALSE(ApplyOverride(s, "no_such_setting=1").ok());
  CHECK_FALSE(ApplyOverride(s, "unchoke_slots_limit").ok());
  CHECK_FALSE(ApplyOverride(s, "unchoke_slots_limit=many").ok());
}

TEST_CASE("stock settings keep libtorrent's tuning defaults but the host's address and caps") {
  SwarmOptions o;
  o.bind_address = "127.0.3.4";
  o.upload_rate = 4 << 20;
  o.stock = true;
  lt::settings_pack s = SwarmSettings(o);
  CHECK(s.get_str(lt::settings_pack::outgoing_interfaces) == "127.0.3.4");
  CHECK(s.get_int(lt::settings_pack::upload_rate_limit) == 4 << 20);
  CHECK_FALSE(s.get_bool(lt::settings_pack::enable_outgoing_utp));
  // Spate's own choices are absent, so libtorrent's defaults apply.
  CHECK_FALSE(s.has_val(lt::settings_pack::min_announce_interval));
  CHECK_FALSE(s.has_val(lt::settings_pack::allow_multiple_connections_per_ip));
  CHECK_FALSE(s.has_val(lt::settings_pack::unchoke_interval));
  o.stock = false;
  lt::settings_pack tuned = SwarmSettings(o);
  CHECK(tuned.get_int(lt::settings_pack::min_announce_interval) == o.min_announce_interval);
  CHECK(tuned.get_int(lt::settings_pack::unchoke_interval) == 5);
}

}  // namespace
}  // namespace spate

TEST_CASE("the announce URL is the one given, else the tracker's own /announce") {
  CHECK(*spate::AnnounceUrlFor("http://10.0.0.1:7070/", "") == "http://10.0.0.1:7070/announce");
  CHECK(*spate::AnnounceUrlFor("https://10.0.0.1:7070", "") == "https://10.0.0.1:7070/announce");
  CHECK(*spate::AnnounceUrlFor("https://10.0.0.1:7070", "http://10.0.0.1:6969/announce") ==
        "http://10.0.0.1:6969/announce");
  CHECK(*spate::AnnounceUrlFor("http://t:1", "udp://10.0.0.1:6969") == "udp://10.0.0.1:6969");
  auto bad = spate::AnnounceUrlFor("http://t:1", "ftp://x/announce");
  CHECK(bad.status().message() == "--announce-url must be an http://, https:// or udp:// URL: ftp://x/announce");
}
