-- wrk script of the jobgate benchmark (bench/run.mjs runs: wrk -t1 -c<n> -d<s> -s bench/wrk.lua ...).
-- With JOBGATE_BENCH_TOKENS=<file> (one token value per line), every request carries the next
-- token of the file, cycling: the "fresh token per request" case. Without it, wrk sends its
-- static request (the -H headers) and no Lua runs per request.
-- done() prints one machine-readable line: requests, duration (us), p50, p99, max latency (us),
-- connect/read/write/status/timeout errors (status = answers >= 400).
local tokens_file = os.getenv("JOBGATE_BENCH_TOKENS")

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

done = function(summary, latency, requests)
  io.write(string.format("JOBGATE_BENCH_RESULT %d %d %d %d %d %d %d %d %d %d\n",
    summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), latency.max,
    summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.status, summary.errors.timeout))
end
