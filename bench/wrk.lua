-- wrk script of the jobgate benchmark (bench/run.mjs runs: wrk -t1 -c<n> -d<s> -s bench/wrk.lua ...).
--
-- JOBGATE_BENCH_TOKENS=<file> (one token value per line): every request carries the next token
--   of the file, cycling: the "fresh token per request" case. Without it, wrk sends its static
--   request (the -H headers) and no Lua runs per request.
-- JOBGATE_BENCH_STATUS=1: counts the status codes (the warm-up does, to check every case answers
--   what it should; the measured rounds do not, since response() costs wrk time).
--
-- done() prints machine-readable lines: JOBGATE_BENCH_RESULT with requests, duration (us), p50,
-- p99 and max latency (us), connect/read/write/status/timeout errors (status = answers >= 400);
-- and JOBGATE_BENCH_STATUS <code> <count> for each status code seen, when counting.
local tokens_file = os.getenv("JOBGATE_BENCH_TOKENS")
local count_status = os.getenv("JOBGATE_BENCH_STATUS") == "1"
local threads = {}

setup = function(thread)
  table.insert(threads, thread)
end

if tokens_file and tokens_file ~= "" then
  local requests, count, index = {}, 0, 0

  init = function(args)
    local host = wrk.headers["Host"]
    for line in io.lines(tokens_file) do
      if line ~= "" then
        count = count + 1
        requests[count] = wrk.format("GET", wrk.path, { ["Host"] = host, ["Authorization"] = "Bearer " .. line })
      end
    end
  end

  request = function()
    index = index % count + 1
    return requests[index]
  end
end

if count_status then
  statuses = {}
  response = function(status, headers, body)
    statuses[status] = (statuses[status] or 0) + 1
  end
end

done = function(summary, latency, requests)
  io.write(string.format("JOBGATE_BENCH_RESULT %d %d %d %d %d %d %d %d %d %d\n",
    summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), latency.max,
    summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.status, summary.errors.timeout))
  if count_status then
    for _, thread in ipairs(threads) do
      local counts = thread:get("statuses")
      for status, n in pairs(counts or {}) do
        io.write(string.format("JOBGATE_BENCH_STATUS %d %d\n", status, n))
      end
    end
  end
end
