-- POST /api/transfers of 0.01. BENCH_MODE:
--   uniform  from and to drawn at random among all the users
--   hot      from one of the first 10 users, to any other (contention; the ceiling's --hot)
--   keyed    as uniform, each request with an Idempotency-Key of its own
--   hot-keyed as hot, each request with an Idempotency-Key of its own
-- Same draw as the ceiling's (math.random, unseeded), ids shifted to ours, and never a transfer to oneself
-- (Tally refuses those; the ceiling does not check).
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "env.lua")
dofile(here .. "statuses.lua")

local mode = os.getenv("BENCH_MODE") or "uniform"
local hot = mode == "hot" or mode == "hot-keyed"
local keyed = mode == "keyed" or mode == "hot-keyed"
local n = bench.users
local prefix = tostring(os.time())
local counter = 0

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. bench.token

request = function()
  local s, d
  if hot then
    s = math.random(0, 9); d = math.random(10, n - 1)
  else
    s = math.random(0, n - 1); d = math.random(0, n - 2)
    if d >= s then d = d + 1 end
  end
  s, d = bench.user(s), bench.user(d)
  local headers = nil
  if keyed then
    counter = counter + 1
    -- Random first, as a client's UUIDs would be (keys that all sort together would crowd one index page);
    -- the start time, thread and counter make each key unique. A headers table replaces wrk.headers: repeat
    -- the ones every request needs.
    headers = { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. bench.token,
      ["Idempotency-Key"] = string.format("%08x%08x-%s-%s-%d",
        math.random(0, 0x7fffffff), math.random(0, 0x7fffffff), prefix, tid, counter) }
  end
  return wrk.format(nil, "/api/transfers", headers,
    string.format('{"from_user_id":%d,"to_user_id":%d,"amount":"0.01"}', s, d))
end
