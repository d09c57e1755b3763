-- The settings bench.sh passes to the wrk scripts, from the environment (wrk takes no script arguments
-- before the URL's own): BENCH_TOKEN (a service-role token), BENCH_FIRST_USER and BENCH_USERS (the seeded
-- users are ids BENCH_FIRST_USER .. BENCH_FIRST_USER + BENCH_USERS - 1).
local function number(name)
  local value = tonumber(os.getenv(name) or "")
  if not value then error(name .. " is not set") end
  return value
end

bench = {
  token = os.getenv("BENCH_TOKEN") or error("BENCH_TOKEN is not set"),
  first_user = number("BENCH_FIRST_USER"),
  users = number("BENCH_USERS"),
}
