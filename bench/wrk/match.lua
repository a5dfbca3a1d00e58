-- POST /Patient/$match (registration, FHIR R4): each request a FHIR Parameters body from a file of
-- typo'd queries of known roster patients, with a Bearer token of one of several operator clients
-- (registration:match), taken in turn. Run with -t N -c N (one connection per thread), so each
-- answer is paired with the query that asked it: the script counts how often the true patient comes
-- first (counters: answered, first, found = anywhere in the answer).
-- BENCH_PATH: the path and query string (/Patient/$match?practice=<id>);
-- BENCH_QUERIES: a file of lines "<true patient's MRN><TAB><Parameters JSON>";
-- BENCH_TOKENS: a file of access tokens, one a line.
package.path = (os.getenv("BENCH_WRK_DIR") or "bench/wrk") .. "/?.lua;" .. package.path
local common = require("common")

local path = assert(os.getenv("BENCH_PATH"), "BENCH_PATH")
local queries, tokens = {}, {}
local n, expected = 0, nil
statuses, counters = {}, { answered = 0, first = 0, found = 0 }

setup = common.setup

function init(args)
  for _, line in ipairs(common.lines(assert(os.getenv("BENCH_QUERIES"), "BENCH_QUERIES"))) do
    local mrn, body = line:match("^([^\t]+)\t(.+)$")
    table.insert(queries, { mrn = mrn, body = body })
  end
  for _, token in ipairs(common.lines(assert(os.getenv("BENCH_TOKENS"), "BENCH_TOKENS"))) do
    table.insert(tokens, { ["Content-Type"] = "application/fhir+json", ["Accept"] = "application/fhir+json",
                           ["Authorization"] = "Bearer " .. token })
  end
  -- the threads start at different places in the queries (and the clients)
  n = math.floor((#queries / tonumber(os.getenv("BENCH_THREADS") or "1")) * ((thread_id or 1) - 1))
end

function request()
  n = n + 1
  local query = queries[(n % #queries) + 1]
  expected = query.mrn
  return wrk.format("POST", path, tokens[(n % #tokens) + 1], query.body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if status ~= 200 then return end
  counters.answered = counters.answered + 1
  -- the Bundle's first entry is the best match: its resource is the first "id" in the answer
  local first = body:match('"id":%s*"([^"]+)"')
  if first == expected then counters.first = counters.first + 1 end
  if body:find('"id": "' .. expected .. '"', 1, true) or body:find('"id":"' .. expected .. '"', 1, true) then
    counters.found = counters.found + 1
  end
end

done = common.done
