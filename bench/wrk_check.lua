-- wrk script of xmpp-extauth's suite: cycles through a list of `BODY<TAB>PATH` lines,
-- checks every response (status 200, body exactly BODY), and prints one result line in
-- xbench's format. Meant for `-t1 -c1` (one connection keeps the answers in order).
-- usage: wrk -t1 -c1 -d3s -s bench/wrk_check.lua URL -- LABEL PATHS-FILE

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  label = args[1] or "wrk"
  paths, bodies, n, sent, bad = {}, {}, 0, 0, 0
  for line in io.lines(args[2]) do
    local body, path = line:match("^(%a+)\t(.+)$")
    if path then
      n = n + 1
      bodies[n], paths[n] = body, path
    end
  end
end

function request()
  sent = sent % n + 1
  return wrk.format("GET", paths[sent])
end

-- With one connection the request being answered is the last one made (wrk also calls
-- request() once at start-up without sending it, so a separate answer counter would run
-- one behind).
function response(status, headers, body)
  if status ~= 200 or body ~= bodies[sent] then
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local t = threads[1]
  local wrong = t:get("bad") + summary.errors.status + summary.errors.read + summary.errors.connect
  local line = string.format("%s\treq_s=%.0f\tp50_us=%.1f\tp99_us=%.1f",
    t:get("label"), summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(99))
  if wrong > 0 then
    line = line .. "\tfailed=1"
    io.stderr:write(string.format("wrk_check: %d wrong or failed answers\n", wrong))
  end
  io.write(line .. "\n")
end
