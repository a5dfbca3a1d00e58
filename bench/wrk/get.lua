-- GET of one or more paths in turn (BENCH_PATHS, separated by spaces), with optional headers:
-- BENCH_BEARER (Authorization: Bearer), BENCH_ACCEPT, BENCH_IF_NONE_MATCH (one ETag per path,
-- separated by spaces, for revalidation: expect 304).
package.path = (os.getenv("BENCH_WRK_DIR") or "bench/wrk") .. "/?.lua;" .. package.path
local common = require("common")

local paths, etags = {}, {}
for p in string.gmatch(assert(os.getenv("BENCH_PATHS"), "BENCH_PATHS"), "%S+") do table.insert(paths, p) end
for e in string.gmatch(os.getenv("BENCH_IF_NONE_MATCH") or "", "%S+") do table.insert(etags, e) end
local headers = {}
if os.getenv("BENCH_BEARER") then headers["Authorization"] = "Bearer " .. os.getenv("BENCH_BEARER") end
if os.getenv("BENCH_ACCEPT") then headers["Accept"] = os.getenv("BENCH_ACCEPT") end
local prepared = {}
for i, p in ipairs(paths) do
  local h = {}
  for k, v in pairs(headers) do h[k] = v end
  if etags[i] then h["If-None-Match"] = etags[i] end
  prepared[i] = wrk.format("GET", p, h)
end
local n = 0

setup = common.setup
function init(args) n = thread_id or 0 end
function request()
  n = n + 1
  return prepared[(n % #prepared) + 1]
end
done = common.done
