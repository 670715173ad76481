-- entitle-meter: check-and-count of a batch of budget keys, with exactly the bucket semantics of the in-process
-- meter (src/counter.rs, src/window.rs). Atomic because Redis runs a script alone.
--
-- KEYS[1]: this call's token key. If it exists, the client has cancelled this call (it timed out and ran the
--          cancel script first): nothing is counted and the answer is empty. Otherwise the answer is also stored
--          there (for ARGV[7] ms), so a client that timed out can fetch what was decided instead of guessing.
-- KEYS[2 .. D+1]: token keys of earlier calls whose answers arrived (D = ARGV[6]); deleted, as nobody needs them.
-- KEYS[D+1+i]: the hash of budget key i (fields: h = head bucket, t = sum of buckets h-K..h, l = newest bucket
--          with a count, w = REQ-8 warned-until, and one field per non-empty bucket, named by its index).
-- ARGV[1] now_ms (the caller's clock), ARGV[2] bucket_ms, ARGV[3] K = day/bucket, ARGV[4] k = short/bucket,
-- ARGV[5] day_ms, ARGV[6] D, ARGV[7] token ttl_ms; then per key i: n, limit_24h, limit_short (at
-- 7 + 3(i-1) + 1..3).
-- Returns 6 integers per key: allowed (1/0), remaining, reset_at_ms, retry_after_ms (-1: never), warn (1/0),
-- refused_by (0 none, 1 day, 2 short).

local D = tonumber(ARGV[6])
local tok_ttl = tonumber(ARGV[7])
if D > 0 then
  local done = {}
  for j = 2, D + 1 do
    done[#done + 1] = KEYS[j]
  end
  redis.call('DEL', unpack(done))
end
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {}
end

local now = tonumber(ARGV[1])
local B = tonumber(ARGV[2])
local K = tonumber(ARGV[3])
local k = tonumber(ARGV[4])
local day_ms = tonumber(ARGV[5])
local ttl = day_ms + B
local c = math.floor(now / B)
local out = {}

local function fields(from, to)
  local f = {}
  for j = math.max(from, 0), to do
    f[#f + 1] = tostring(j)
  end
  return f
end

local function expiry(b)
  return b * B + day_ms + B
end

for i = 1, #KEYS - 1 - D do
  local key = KEYS[D + 1 + i]
  local base = 7 + 3 * (i - 1)
  local n = tonumber(ARGV[base + 1])
  local l24 = tonumber(ARGV[base + 2])
  local l5 = tonumber(ARGV[base + 3])

  local st = redis.call('HMGET', key, 'h', 't', 'l', 'w')
  local h = tonumber(st[1])
  local t = tonumber(st[2]) or 0
  local last = tonumber(st[3])
  local w = tonumber(st[4]) or 0
  if h == nil then
    h = c
  elseif c > h then
    -- Buckets h-K .. c-K-1 leave the long window.
    if c - h > K then
      redis.call('DEL', key)
      t = 0
    else
      local gone = fields(h - K, c - K - 1)
      if #gone > 0 then
        local vals = redis.call('HMGET', key, unpack(gone))
        for j = 1, #vals do
          t = t - (tonumber(vals[j]) or 0)
        end
        redis.call('HDEL', key, unpack(gone))
      end
    end
    h = c
  end
  if last ~= nil and last < h - K then
    last = nil
  end

  local sf = fields(h - k, h)
  local sv = redis.call('HMGET', key, unpack(sf))
  local short = 0
  for j = 1, #sv do
    short = short + (tonumber(sv[j]) or 0)
  end

  if t + n <= l24 and short + n <= l5 then
    local warn = 0
    if n > 0 then
      redis.call('HINCRBY', key, tostring(h), n)
      t = t + n
      last = h
      local now_eff = math.max(now, h * B)
      if l24 > 0 and t * 5 >= l24 * 4 and now_eff >= w then
        w = now_eff + day_ms
        warn = 1
      end
    end
    local reset = now
    if last ~= nil then
      reset = expiry(last)
    end
    out[#out + 1] = 1
    out[#out + 1] = l24 - t
    out[#out + 1] = reset
    out[#out + 1] = 0
    out[#out + 1] = warn
    out[#out + 1] = 0
  else
    local retry = -1
    if n <= l24 and n <= l5 then
      -- The earliest bucket at which n fits, as window.rs retry_bucket.
      local af = fields(h - K, h)
      local av = redis.call('HMGET', key, unpack(af))
      local cnt = {}
      for j = 1, #af do
        cnt[tonumber(af[j])] = tonumber(av[j]) or 0
      end
      local day, sh, cc = t, short, h
      while day + n > l24 or sh + n > l5 do
        cc = cc + 1
        local jd = cc - K - 1
        if jd >= 0 then
          day = day - (cnt[jd] or 0)
        end
        local js = cc - k - 1
        if js >= 0 and js <= h then
          sh = sh - (cnt[js] or 0)
        end
        if cc > h + K + 1 then
          break
        end
      end
      retry = math.max(cc * B - now, 0)
    end
    local reset = now
    if last ~= nil then
      reset = expiry(last)
    end
    local by = 2
    if t + n > l24 then
      by = 1
    end
    out[#out + 1] = 0
    out[#out + 1] = math.max(l24 - t, 0)
    out[#out + 1] = reset
    out[#out + 1] = retry
    out[#out + 1] = 0
    out[#out + 1] = by
  end

  if last ~= nil then
    redis.call('HSET', key, 'h', h, 't', t, 'w', w, 'l', last)
  else
    redis.call('HSET', key, 'h', h, 't', t, 'w', w)
    redis.call('HDEL', key, 'l')
  end
  redis.call('PEXPIRE', key, ttl)
end

local stored = {}
for j = 1, #out do
  stored[j] = string.format('%d', out[j])
end
redis.call('SET', KEYS[1], table.concat(stored, ' '), 'PX', tok_ttl)
return out
