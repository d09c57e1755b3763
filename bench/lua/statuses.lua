-- Shared by every wrk script here (loaded with dofile): counts each thread's responses by status and, when
-- wrk is done, prints one line with the totals over all threads, for bench.sh to read:
--   statuses 201=2718 503=0
-- wrk's own summary counts only "non-2xx"; the journal check needs the 201s exactly as wrk saw them.
-- Each wrk thread runs in its own Lua state: `statuses` is per thread, `threads` lives in the main state.
local threads = {}

function setup(thread)
  -- 0-based thread number, for scripts that split users between threads (events.lua).
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

statuses = {}

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
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
