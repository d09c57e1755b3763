-- A payment in two requests: POST /api/holds (0.01 from a random user to another, expiring in 10 minutes),
-- then, once its answer came, POST /api/holds/{id}/capture of all of it. Same draw as transfers.lua's uniform
-- mode, service token. Each thread keeps the ids of the holds it placed and not yet captured; its next request
-- (on whichever of its connections is free first) captures one of them, else places a new hold. So about half
-- the requests are holds and half captures, and a payment's rate is the captures' (200s) per second; at wrk's
-- deadline up to one hold per connection is left pending.
-- The hold's id is read from its answer (which starts {"id":N,...}): this script needs every response in Lua,
-- so BENCH_STATUSES=summary does not apply; the statuses line counts 201 (holds) and 200 (captures).
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "env.lua")
dofile(here .. "statuses.lua")

local n = bench.users
local placed = {}   -- hold ids of this thread waiting for their capture

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. bench.token

function init(args)
  -- Each thread its own draw (an unseeded Lua state repeats the same numbers in every thread).
  math.randomseed(1000003 * (tid + 1))
end

request = function()
  local id = table.remove(placed)
  if id then
    return wrk.format(nil, "/api/holds/" .. id .. "/capture", nil, "{}")
  end
  local s, d = math.random(0, n - 1), math.random(0, n - 2)
  if d >= s then d = d + 1 end
  return wrk.format(nil, "/api/holds", nil, string.format(
    '{"from_user_id":%d,"to_user_id":%d,"amount":"0.01","expires_in":600}', bench.user(s), bench.user(d)))
end

response = function(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if status == 201 then
    local id = body:match('"id":(%d+)')
    if id then table.insert(placed, id) end
  end
end
