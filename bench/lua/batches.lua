-- POST /api/batches: atomic batches of BENCH_BATCH transfers of 0.01 each, with the service token. BENCH_MODE:
--   uniform  every item between two random users (never to oneself: Tally refuses those)
--   hot      every item debits one of the first 10 users, to any other (the ceiling's --batch N --hot)
-- The same draw per item as transfers.lua, so a batch of one is transfers.lua's load through the batch route.
-- A pool of BENCH_BODIES bodies (200) per thread is drawn when the thread starts (init) and sent in turn, so
-- that wrk's Lua work per request is a table lookup, as in the ceiling's batch mode: a batch of 1,000 made
-- afresh for each request would cost wrk's thread more than the pool spends on it.
-- The requests are formatted on the first request() call, not at load time: wrk adds the Host header to
-- wrk.headers only after the script is loaded, and a request formatted before that has none (nginx: 400).
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "env.lua")
dofile(here .. "statuses.lua")

local mode = os.getenv("BENCH_MODE") or "uniform"
local hot = mode == "hot"
local size = tonumber(os.getenv("BENCH_BATCH") or "100")
local pool = tonumber(os.getenv("BENCH_BODIES") or "200")
local n = bench.users

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. bench.token

local bodies, requests, turn = {}, {}, 0

function init(args)
  -- Each thread its own draw (an unseeded Lua state repeats the same numbers in every thread, and two
  -- threads sending the same batches at the same moment would contend as random clients do not).
  math.randomseed(1000003 * (tid + 1))
  for b = 1, pool do
    local items = {}
    for i = 1, size do
      local s, d
      if hot then
        s = math.random(0, 9); d = math.random(10, n - 1)
      else
        s = math.random(0, n - 1); d = math.random(0, n - 2)
        if d >= s then d = d + 1 end
      end
      items[i] = string.format('{"type":"transfer","from_user_id":%d,"to_user_id":%d,"amount":"0.01"}',
        bench.user(s), bench.user(d))
    end
    bodies[b] = '{"atomic":true,"movements":[' .. table.concat(items, ",") .. ']}'
  end
end

request = function()
  if #requests == 0 then
    for b = 1, #bodies do requests[b] = wrk.format(nil, "/api/batches", nil, bodies[b]) end
    bodies = nil
  end
  turn = turn % #requests + 1
  return requests[turn]
end
