-- wrk script for scripts/bench-load.sh: POSTs the SOAP file named by $BENCH_BODY and
-- prints one machine-readable "BENCH ..." line at the end (latency in microseconds,
-- from wrk's own latency histogram).
-- BENCH_CHECK=1 also counts every response status in a `response` hook (wrk then
-- parses each response in Lua, which costs client CPU: off by default; wrk still
-- counts statuses >= 400 and socket errors without it).

local path = os.getenv("BENCH_BODY") or error("BENCH_BODY is not set")
local f = assert(io.open(path, "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "text/xml; charset=utf-8"
wrk.headers["SOAPAction"] = '""'

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

if os.getenv("BENCH_CHECK") == "1" then
  function init(args)
    statuses = {}
  end

  function response(status, headers, body)
    statuses[status] = (statuses[status] or 0) + 1
  end
end

-- How many of `total` requests took longer than `us` microseconds (from the latency
-- histogram, by bisecting its percentiles).
local function count_over(latency, total, us)
  if latency.max <= us then return 0 end
  local lo, hi = 0, 100
  for _ = 1, 40 do
    local mid = (lo + hi) / 2
    if latency:percentile(mid) > us then hi = mid else lo = mid end
  end
  return math.floor((100 - hi) / 100 * total + 0.5)
end

function done(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local e = summary.errors
  local other = 0
  local seen = {}
  for _, t in ipairs(threads) do
    local s = t:get("statuses")
    if s then
      for code, n in pairs(s) do
        seen[code] = (seen[code] or 0) + n
        if code ~= 200 then other = other + n end
      end
    end
  end
  local codes = {}
  for code, n in pairs(seen) do table.insert(codes, code .. ":" .. n) end
  io.write(string.format(
    "BENCH requests=%d seconds=%.3f rps=%.1f p50_us=%d p90_us=%d p99_us=%d max_us=%d "
      .. "connect=%d read=%d write=%d status=%d timeout=%d non200=%d over2s=%d codes=%s\n",
    summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout, other,
    count_over(latency, summary.requests, 2e6),
    (#codes > 0) and table.concat(codes, ",") or "-"))
end
