-- Shared by every wrk script here (loaded with dofile): when wrk is done, prints one line with the responses
-- by status over all threads, for bench.sh to read:
--   statuses 201=2718 503=0
-- wrk's own summary counts only "non-2xx"; the journal check needs the 201s exactly as wrk saw them.
--
-- BENCH_STATUSES=summary leaves out the per-response hook: wrk then hands no response to Lua (with a hook it
-- builds a table of every response's headers and copies its body, about 7-10 us of wrk's CPU a request on
-- this machine, which the ceiling's wrk does not spend). The line then has two counts from wrk's summary:
--   statuses 2xx=2718 non2xx=0
-- for loads whose only 2xx is one status (a transfer's 201) and whose other statuses are read elsewhere
-- (nginx's access log).
-- Each wrk thread runs in its own Lua state: `statuses` is per thread, `threads` lives in the main state.
local threads = {}
local per_response = os.getenv("BENCH_STATUSES") ~= "summary"

function setup(thread)
  -- 0-based thread number, for scripts that split users between threads (events.lua).
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

statuses = {}

if per_response then
  function response(status, headers, body)
    statuses[status] = (statuses[status] or 0) + 1
  end
end

function done(summary, latency, requests)
  if not per_response then
    local non2xx = summary.errors.status
    io.write(string.format("statuses 2xx=%d non2xx=%d\n", summary.requests - non2xx, non2xx))
    return
  end
  local total = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses") or {}) do
      total[status] = (total[status] or 0) + count
    end
  end
  local codes = {}
  for status in pairs(total) do table.insert(codes, status) end
  table.sort(codes)
  io.write("statuses")
  for _, status in ipairs(codes) do io.write(string.format(" %d=%d", status, total[status])) end
  io.write("\n")
end
