-- A whole password sign-in per loop, as a browser and a portal do it: GET /authorize → 303 to the
-- sign-in page → GET it (CSRF token, UI cookie) → POST the password → 303 → GET the page again
-- (now signed in) → 302 to the portal with the code → POST /token (client_secret_basic).
-- Run with -t N -c N (one connection per thread: each thread is one browser). Each loop starts
-- without cookies, so each is a fresh sign-in with one argon2id verification.
-- BENCH_CLIENT_ID, BENCH_BASIC, BENCH_REDIRECT_URI, BENCH_PASSWORD, BENCH_USER_PREFIX (thread n signs
-- in as <prefix><n>).
package.path = (os.getenv("BENCH_WRK_DIR") or "bench/wrk") .. "/?.lua;" .. package.path
local common = require("common")

local client_id = assert(os.getenv("BENCH_CLIENT_ID"))
local basic = "Basic " .. assert(os.getenv("BENCH_BASIC"))
local redirect_uri = assert(os.getenv("BENCH_REDIRECT_URI"))
local password = assert(os.getenv("BENCH_PASSWORD"))
local prefix = os.getenv("BENCH_USER_PREFIX") or "bench-user-"
local authorize = "/authorize?response_type=code&client_id=" .. client_id .. "&redirect_uri=" ..
    common.urlencode(redirect_uri) .. "&scope=openid&state=bench"
local form = { ["Content-Type"] = "application/x-www-form-urlencoded" }

flows_ok, flows_failed, flow_us, statuses = 0, 0, {}, {}
local step, jar, location, csrf, code, started, username = 1, {}, nil, nil, nil, nil, nil

setup = common.setup

function init(args)
  username = prefix .. tostring(thread_id - 1)
end

local function path_of(url)
  return url:match("^https?://[^/]+(/.*)$") or url
end

local function with_cookies(h)
  local copy = {}
  for k, v in pairs(h or {}) do copy[k] = v end
  if next(jar) then copy["Cookie"] = common.cookie_header(jar) end
  return copy
end

function request()
  if step == 1 then
    jar, started = {}, common.now_us()
    return wrk.format("GET", authorize, {})
  elseif step == 2 or step == 4 then
    return wrk.format("GET", location, with_cookies())
  elseif step == 3 then
    local body = "username=" .. common.urlencode(username) .. "&password=" .. common.urlencode(password) ..
        "&csrf_token=" .. common.urlencode(csrf)
    return wrk.format("POST", location .. "/login", with_cookies(form), body)
  else
    local body = "grant_type=authorization_code&code=" .. common.urlencode(code) .. "&redirect_uri=" ..
        common.urlencode(redirect_uri)
    return wrk.format("POST", "/token", { ["Content-Type"] = form["Content-Type"], ["Authorization"] = basic }, body)
  end
end

local function fail(status)
  flows_failed = flows_failed + 1
  step = 1
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  common.cookies(headers, jar)
  local where = headers["Location"] or headers["location"]
  if step == 1 then
    if (status == 302 or status == 303) and where then
      location, step = path_of(where), 2
    else fail(status) end
  elseif step == 2 then
    csrf = status == 200 and body:match('name="csrf_token" value="([^"]+)"')
    if csrf then step = 3 else fail(status) end
  elseif step == 3 then
    if status == 303 and where then location, step = path_of(where), 4 else fail(status) end
  elseif step == 4 then
    code = (status == 302 or status == 303) and where and where:match("[?&]code=([^&]+)")
    if code then step = 5 else fail(status) end
  else
    if status == 200 and body:find('"access_token"', 1, true) then
      flows_ok = flows_ok + 1
      table.insert(flow_us, common.now_us() - started)
    else
      flows_failed = flows_failed + 1
    end
    step = 1
  end
end

done = common.done
