-- wrk script shared by every scenario: one pre-built request per body, status accounting, and
-- a JSON summary on stdout (one line starting with "BENCH_JSON ").
--
-- Configured through the environment (bench/run.py sets these):
--   BENCH_METHOD        GET or POST
--   BENCH_PATH          request path, e.g. /oauth/token
--   BENCH_CONTENT_TYPE  content type of the bodies (POST only)
--   BENCH_BODIES        file with one body per line (POST only)
--   BENCH_THREADS       the -t given to wrk: thread k sends lines k, k+T, k+2T, ...
--   BENCH_ONCE          "1": every body is meant to be sent once (single-use mfa_tokens and
--                       codes); when a thread runs out it starts over and counts the repeats
--                       in "reused", so the report can say the pool was too small
--   BENCH_OK_STATUS     the status that counts as success (200, or 403 for the password grant)
--   BENCH_OK_MATCH      optional text the body must contain to count as success
--                       (e.g. "mfa_required", so a 403 for a wrong password is not a success)

local method = os.getenv("BENCH_METHOD") or "GET"
local path = os.getenv("BENCH_PATH") or "/"
local content_type = os.getenv("BENCH_CONTENT_TYPE") or "application/x-www-form-urlencoded"
local bodies_file = os.getenv("BENCH_BODIES")
local nthreads = tonumber(os.getenv("BENCH_THREADS") or "1")
local once = os.getenv("BENCH_ONCE") == "1"
local ok_status = tonumber(os.getenv("BENCH_OK_STATUS") or "200")
local ok_match = os.getenv("BENCH_OK_MATCH")
if ok_match == "" then ok_match = nil end

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  requests_list = {}
  statuses = {}
  ok = 0
  bad = 0
  reused = 0
  local headers = {}
  if method == "POST" then
    headers["Content-Type"] = content_type
    local n = 0
    for line in io.lines(bodies_file) do
      if n % nthreads == tid then
        table.insert(requests_list, wrk.format(method, path, headers, line))
      end
      n = n + 1
    end
  else
    table.insert(requests_list, wrk.format(method, path, headers, nil))
  end
  count = #requests_list
  pos = 0
end

function request()
  pos = pos + 1
  if pos > count then
    pos = 1
    if once then reused = reused + count end
  end
  return requests_list[pos]
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if status == ok_status and (ok_match == nil or (body and string.find(body, ok_match, 1, true))) then
    ok = ok + 1
  else
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local agg, total_ok, total_bad, total_reused, bodies = {}, 0, 0, 0, 0
  for _, t in ipairs(threads) do
    local s = t:get("statuses") or {}
    for k, v in pairs(s) do agg[k] = (agg[k] or 0) + v end
    total_ok = total_ok + (t:get("ok") or 0)
    total_bad = total_bad + (t:get("bad") or 0)
    total_reused = total_reused + (t:get("reused") or 0)
    bodies = bodies + (t:get("count") or 0)
  end
  local parts = {}
  for k, v in pairs(agg) do table.insert(parts, string.format('"%d":%d', k, v)) end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"duration_us":%d,"requests":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"ok":%d,"bad":%d,"reused":%d,"bodies":%d,"statuses":{%s},' ..
    '"latency_us":{"min":%d,"mean":%.1f,"stdev":%.1f,"max":%d,' ..
    '"p50":%d,"p90":%d,"p99":%d,"p999":%d}}\n',
    summary.duration, summary.requests, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    total_ok, total_bad, total_reused, bodies, table.concat(parts, ","),
    latency.min, latency.mean, latency.stdev, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9)))
end
