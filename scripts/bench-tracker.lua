-- wrk script of scripts/bench-tracker: announces for the preloaded swarms.
-- Torrent t's info-hash is "spatebench00" .. t as 8 digits (tests/bench/swarm_names.h).
-- Peer ids come from a pool of 16 per torrent with a port each, so both trackers
-- (Spate keys peers by peer id, opentracker by address:port) see the same
-- re-announcing peers instead of an ever-growing swarm.
local torrents = tonumber(os.getenv("BENCH_TORRENTS") or "1000")
local close = os.getenv("BENCH_CLOSE") == "1"
local thread_no = 0

function setup(thread)
  thread_no = thread_no + 1
  thread:set("seed", thread_no)
end

function init(args)
  math.randomseed(os.time() * 1000 + (seed or 0))
  if close then
    -- One connection per request, as real BitTorrent clients announce.
    wrk.headers["Connection"] = "close"
  end
end

function request()
  local t = math.random(0, torrents - 1)
  local k = math.random(0, 15)
  local left = (k % 4 == 0) and 0 or 536870912
  local path = string.format(
    "/announce?info_hash=spatebench00%08d&peer_id=-WRK001-%06d%06d&port=%d" ..
    "&uploaded=0&downloaded=0&left=%d&compact=1&numwant=50",
    t, t % 1000000, k, 20000 + k, left)
  return wrk.format("GET", path)
end
