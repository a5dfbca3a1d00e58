-- POST /token grant_type=refresh_token, following each rotation: every connection (run with
-- -t N -c N, one connection per thread) starts from its own seeded refresh token (its own grant)
-- and always presents the token the previous answer returned, as a portal does. A rotated token
-- is never presented again (that would revoke the grant), so a refusal here is a real failure;
-- the thread then moves on to its next seeded grant.
-- BENCH_BASIC: base64(client_id:client_secret); BENCH_TOKENS: a file of seed tokens, one a line.
package.path = (os.getenv("BENCH_WRK_DIR") or "bench/wrk") .. "/?.lua;" .. package.path
local common = require("common")

local basic = "Basic " .. assert(os.getenv("BENCH_BASIC"), "BENCH_BASIC")
local seeds, current, next_seed = {}, nil, 1
flows_ok, flows_failed, statuses = 0, 0, {}

setup = common.setup

function init(args)
  local all = common.lines(assert(os.getenv("BENCH_TOKENS"), "BENCH_TOKENS"))
  local count = tonumber(os.getenv("BENCH_THREADS") or "1")
  for i, token in ipairs(all) do
    if (i - 1) % count == (thread_id - 1) then table.insert(seeds, token) end
  end
  current = seeds[1]
  next_seed = 2
end

local headers = { ["Content-Type"] = "application/x-www-form-urlencoded", ["Authorization"] = basic }

function request()
  return wrk.format("POST", "/token", headers, "grant_type=refresh_token&refresh_token=" .. current)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  local rotated = status == 200 and body:match('"refresh_token":%s*"([^"]+)"')
  if rotated then
    flows_ok = flows_ok + 1
    current = rotated
  else
    flows_failed = flows_failed + 1
    current = seeds[next_seed] or seeds[1]
    next_seed = next_seed + 1
  end
end

done = common.done
