-- wrk script for `scripts/load.sh`: POST /v1/tenants/{t}/usage, one request of a user of a synthetic tenant
-- (`entitle generate`: users `user-0` … `user-N-1`), so the load spreads over N budgets as a platform's would.
-- USAGE_USERS sets N (default 2000). The N requests are formatted once per wrk thread and then cycled through
-- (in a shuffled order), so the load generator spends its time sending, not formatting Lua strings.
local users = tonumber(os.getenv("USAGE_USERS") or "2000")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

local requests = nil
local next = 0

local function build()
  math.randomseed(os.time())
  requests = {}
  for i = 0, users - 1 do
    requests[#requests + 1] = wrk.format(nil, nil, nil, string.format('{"user":"user-%d"}', i))
  end
  for i = #requests, 2, -1 do
    local j = math.random(1, i)
    requests[i], requests[j] = requests[j], requests[i]
  end
end

request = function()
  if requests == nil then
    build()
  end
  next = next % #requests + 1
  return requests[next]
end
