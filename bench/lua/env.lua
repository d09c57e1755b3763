-- The settings bench.sh passes to the wrk scripts, from the environment (wrk takes no script arguments
-- before the URL's own): BENCH_TOKEN (a service-role token), BENCH_USERS (how many users), and either
-- BENCH_FIRST_USER (the seeded users are ids BENCH_FIRST_USER .. BENCH_FIRST_USER + BENCH_USERS - 1) or
-- BENCH_USER_IDS (a file of ids, one a line: users made through the API need not have consecutive ids).
local function number(name)
  local value = tonumber(os.getenv(name) or "")
  if not value then error(name .. " is not set") end
  return value
end

bench = {
  token = os.getenv("BENCH_TOKEN") or error("BENCH_TOKEN is not set"),
  users = number("BENCH_USERS"),
}

local ids_file = os.getenv("BENCH_USER_IDS") or ""
if ids_file ~= "" then
  local ids = {}
  for line in io.lines(ids_file) do table.insert(ids, tonumber(line)) end
  if #ids < bench.users then error(ids_file .. " holds fewer than BENCH_USERS ids") end
  -- The user id at index i, 0 <= i < bench.users.
  bench.user = function(i) return ids[i + 1] end
else
  local first = number("BENCH_FIRST_USER")
  bench.user = function(i) return first + i end
end
