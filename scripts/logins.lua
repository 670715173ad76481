-- wrk script for `scripts/consumption-bench.sh`: POST /v1/tenants/{t}/portals/{p}/logins, one login of an external
-- user out of LOGIN_USERS (default 3000), so the load spreads over that many day-pass books as a portal's would.
-- The bodies are formatted once per wrk thread and cycled through in a shuffled order.
local users = tonumber(os.getenv("LOGIN_USERS") or "3000")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

local requests = nil
local next = 0

request = function()
  if requests == nil then
    math.randomseed(os.time())
    requests = {}
    for i = 0, users - 1 do
      requests[#requests + 1] = wrk.format(nil, nil, nil, string.format('{"user":"contact-%d"}', i))
    end
    for i = #requests, 2, -1 do
      local j = math.random(1, i)
      requests[i], requests[j] = requests[j], requests[i]
    end
  end
  next = next % #requests + 1
  return requests[next]
end
