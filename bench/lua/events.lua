-- POST /api/event: deposits and withdrawals of 0.01-0.99 across the first 1,000 users, each judged by the
-- alert rules. t must increase per user, so each wrk thread keeps its own users (thread k takes the users
-- whose offset is k modulo the thread count: bench.sh runs wrk -t2) and a clock that only goes up. Two
-- connections of one thread can still deliver one user's events out of order; those rare 422s show in the
-- non-2xx column.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "env.lua")
dofile(here .. "statuses.lua")

local n, threads = 1000, 2
local clock = 0

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. bench.token

request = function()
  clock = clock + 1
  local user = bench.user(tid + threads * math.random(0, n / threads - 1))
  local kind = (math.random(1, 2) == 1) and "deposit" or "withdraw"
  return wrk.format(nil, "/api/event", nil, string.format(
    '{"type":"%s","amount":"0.%02d","user_id":%d,"t":%d}', kind, math.random(1, 99), user, clock))
end
