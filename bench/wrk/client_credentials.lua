-- POST /token grant_type=client_credentials, client_secret_basic (a client stored in PostgreSQL).
-- BENCH_BASIC: base64(client_id:client_secret).
package.path = (os.getenv("BENCH_WRK_DIR") or "bench/wrk") .. "/?.lua;" .. package.path
local common = require("common")

wrk.method = "POST"
wrk.path = "/token"
wrk.body = "grant_type=client_credentials"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic " .. assert(os.getenv("BENCH_BASIC"), "BENCH_BASIC")

setup = common.setup
done = common.done
