-- GET requests. BENCH_READ:
--   ping     GET /api/ping: the pool alone, no database (the ceiling's --noop)
--   user     GET /api/users/{id} of a random user
--   history  GET /api/users/{id}/transactions: the first page of a random user's history
--   mixed    ping and user by turns (the memory scenario: the pool's own path and the database's)
-- Every request carries the token: nginx rate-limits requests without one, and the reads need it.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "env.lua")
dofile(here .. "statuses.lua")

local read = os.getenv("BENCH_READ") or "user"
local n = bench.users

wrk.method = "GET"
wrk.headers["Authorization"] = "Bearer " .. bench.token

local turn = 0

-- ping is one fixed request: wrk sends it without calling into Lua, as the ceiling's wrk does.
if read == "ping" then wrk.path = "/api/ping" end

request = read ~= "ping" and function()
  turn = turn + 1
  if read == "mixed" and turn % 2 == 0 then
    return wrk.format(nil, "/api/ping")
  elseif read == "history" then
    return wrk.format(nil, string.format("/api/users/%d/transactions", bench.user(math.random(0, n - 1))))
  end
  return wrk.format(nil, string.format("/api/users/%d", bench.user(math.random(0, n - 1))))
end
