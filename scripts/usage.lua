-- wrk script for `scripts/load.sh`: POST /v1/tenants/{t}/usage, one request of a random user of a synthetic
-- tenant (`entitle generate`: users `user-0` … `user-N-1`), so the load spreads over N budgets as a platform's
-- would. USAGE_USERS sets N (default 2000).
local users = tonumber(os.getenv("USAGE_USERS") or "2000")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
math.randomseed(os.time())

request = function()
  local body = string.format('{"user":"user-%d"}', math.random(0, users - 1))
  return wrk.format(nil, nil, nil, body)
end
