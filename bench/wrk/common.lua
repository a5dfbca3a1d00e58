-- Shared by the bench scripts: a wall clock (LuaJIT FFI), per-thread registration, and a done()
-- that prints one JSON line (prefixed BENCH_JSON) which bench/loadgen.py parses.
local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
  int clock_gettime(int clk_id, bench_timespec *tp);
]]
local M = { threads = {} }
local ts = ffi.new("bench_timespec")

function M.now_us()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000000 + tonumber(ts.tv_nsec) / 1000
end

local counter = 0
function M.setup(thread)
  counter = counter + 1
  thread:set("thread_id", counter)
  table.insert(M.threads, thread)
end

function M.lines(path)
  local found = {}
  local handle = assert(io.open(path, "r"))
  for line in handle:lines() do
    if #line > 0 then table.insert(found, line) end
  end
  handle:close()
  return found
end

function M.cookies(headers, jar)
  for name, value in pairs(headers) do
    if string.lower(name) == "set-cookie" then
      local k, v = value:match("^%s*([^=;]+)=([^;]*)")
      if k then jar[k] = v end
    end
  end
end

function M.cookie_header(jar)
  local parts = {}
  for k, v in pairs(jar) do table.insert(parts, k .. "=" .. v) end
  return table.concat(parts, "; ")
end

function M.urlencode(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

local function percentile(sorted, p)
  if #sorted == 0 then return 0 end
  local i = math.max(1, math.ceil(#sorted * p / 100))
  return sorted[i]
end

-- Threads may keep: flows_ok, flows_failed (numbers), flow_us (a list of flow latencies, µs),
-- statuses (a table status -> count), counters (a table name -> count, summed over the threads).
local function json_counts(counts)
  local parts = {}
  for k, v in pairs(counts) do table.insert(parts, string.format('"%s":%d', tostring(k), v)) end
  return table.concat(parts, ",")
end

function M.done(summary, latency, requests)
  local ok, failed, flow, statuses, counters = 0, 0, {}, {}, {}
  for _, thread in ipairs(M.threads) do
    ok = ok + (thread:get("flows_ok") or 0)
    failed = failed + (thread:get("flows_failed") or 0)
    for _, v in ipairs(thread:get("flow_us") or {}) do table.insert(flow, v) end
    for k, v in pairs(thread:get("statuses") or {}) do statuses[k] = (statuses[k] or 0) + v end
    for k, v in pairs(thread:get("counters") or {}) do counters[k] = (counters[k] or 0) + v end
  end
  table.sort(flow)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"p50":%d,"p90":%d,"p95":%d,"p99":%d,"max":%d,"mean":%.1f},' ..
    '"flows_ok":%d,"flows_failed":%d,"flow_us":{"count":%d,"p50":%d,"p95":%d,"p99":%d},"statuses":{%s},' ..
    '"counters":{%s}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(95), latency:percentile(99),
    latency.max, latency.mean,
    ok, failed, #flow, percentile(flow, 50), percentile(flow, 95), percentile(flow, 99),
    json_counts(statuses), json_counts(counters)))
end

return M
