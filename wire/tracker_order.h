// Which tracker holds a swarm, and where it goes when that tracker dies.
//
// Several trackers split the swarms between them: each swarm lives on one
// tracker (its owner) and fails over in a fixed order. The announce and
// announce-list of a .torrent sit outside its signed info dict and fetchers
// ignore them, so the order cannot travel with the torrent: the seeder (which
// writes announce-list tiers in this order) and every fetcher (which hands
// libtorrent its configured trackers in this order) compute it, with this one
// pure function, from the info-hash and the tracker list.
//
// Rendezvous (highest random weight) hashing: each tracker scores
// SHA-256(info-hash || tracker) and the order is by score, highest first.
// Every swarm gets a different order, so the survivors of a dead tracker share
// its swarms evenly, and adding or removing a tracker moves only the swarms it
// gains or loses. The score depends on the tracker's string, not its position,
// so both sides may list the trackers in any order but must spell them alike.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace spate {

// Indexes into `trackers`, owner first. `info_hash` is the v1 info-hash, hex
// or raw (any fixed spelling works as long as both sides use the same one;
// Spate passes lower-case hex). A trailing '/' on a tracker does not count.
std::vector<size_t> TrackerOrder(std::string_view info_hash, const std::vector<std::string>& trackers);

// `trackers` reordered by TrackerOrder.
std::vector<std::string> OrderTrackers(std::string_view info_hash, const std::vector<std::string>& trackers);

// "a,b , c" -> {"a","b","c"}: flags take a list as one comma-separated value
// or as repeated flags (cxxopts splits those on commas already). Empty items dropped.
std::vector<std::string> SplitList(const std::vector<std::string>& values);

}  // namespace spate
