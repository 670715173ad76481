-- entitle-ledger: takes a chunk of consumption events (logins, page views, AI Builder credits) with exactly the
-- semantics of the in-process ledger (src/local.rs, src/pass.rs). Atomic because Redis runs a script alone: the
-- id check, the day-pass book, the allocation checks and the counts of an event are one step, whatever node sent it.
--
-- ARGV[1] now_ms (the caller's clock), ARGV[2] RETAIN_MS, ARGV[3] DAY_MS, ARGV[4] book ttl (ms), ARGV[5] id ttl
-- (ms), ARGV[6] month ttl (ms), ARGV[7] MAX_LOGINS; then 9 per event (at 7 + 9(i-1) + 1..9):
--   kind ('L' login, 'V' page views, 'C' credits), fingerprint ('-': no id), at_ms, month key base (the month's
--   key is this base followed by YYYY-MM), name (portal or environment), then
--   L: logins allocated, refuse (1/0), 0, 0
--   V: count, page views allocated, refuse (1/0), 0
--   C: credits charged (0 for a preview model), allocated to the environment, unallocated, pool use allowed (1/0)
-- KEYS, per event in order: its id key if it has an id, then its pass book if it is a login.
--
-- Month hash (one per tenant and month; fields l:<portal> passes (signed), v:<portal> page views, c:<env> credits,
-- pool credits from the unallocated pool): written through the base, in the tenant's hash slot.
-- Pass book (a string): three big-endian doubles kept_from, anchor, cover, then the kept logins, ascending, one
-- double each (exact: every time is below 2^52).
--
-- Returns one string per event: 'L charged pass_ends month used allocated', 'V month counted used allocated',
-- 'C month source(0 allocation, 1 pool) consumed used available', 'R <one of those>' (a replay), or an error:
-- 'E late kept_from', 'E many', 'E over_l month used', 'E over_v month used', 'E noalloc',
-- 'E overdraft source month used', 'E reused'. Months are numbered year * 12 + month - 1. An id key holds
-- '<fingerprint> <answer>'.

local now = tonumber(ARGV[1])
local RETAIN = tonumber(ARGV[2])
local DAY = tonumber(ARGV[3])
local BOOK_TTL = ARGV[4]
local ID_TTL = ARGV[5]
local MONTH_TTL = ARGV[6]
local MAX_LOGINS = tonumber(ARGV[7])
local HDR = 24

local function fmt(x)
  return string.format('%.0f', x)
end

-- The month of a time (ms since the epoch, UTC): days from the epoch to a civil date (H. Hinnant's algorithm),
-- in integers; years past 9999 clamp to 9999-12 like Month::of_ms.
local function month_of(ms)
  local z = (ms - math.fmod(ms, 86400000)) / 86400000 + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local m = mp < 10 and mp + 3 or mp - 9
  local y = yoe + era * 400
  if m <= 2 then
    y = y + 1
  end
  if y > 9999 then
    return 9999 * 12 + 11
  end
  return y * 12 + m - 1
end

local function month_key(base, m)
  return base .. string.format('%04d-%02d', math.floor(m / 12), m % 12 + 1)
end

local function hget(key, field)
  return tonumber(redis.call('HGET', key, field)) or 0
end

local function hincr(key, field, n)
  local v = redis.call('HINCRBY', key, field, n)
  redis.call('PEXPIRE', key, MONTH_TTL)
  return v
end

-- MonthDeltas::add: two months at most, a third folded into the second.
local function add(d, m, n)
  for j = 1, 2 do
    local e = d[j]
    if e[1] == m then
      e[2] = e[2] + n
      return
    end
    if e[1] == nil then
      e[1] = m
      e[2] = n
      return
    end
  end
  d[2][2] = d[2][2] + n
end

-- One login: PassBook::prune, plan and apply, then the month counts (local.rs `login`).
local function login(bk, at, mbase, portal, alloc_s, refuse)
  local field = 'l:' .. portal
  local s = redis.call('GET', bk)
  local kept, anchor, cover, drop, n = 0, 0, 0, 0, 0
  local pruned = false
  if s then
    kept, anchor, cover = struct.unpack('>ddd', s)
    n = (#s - HDR) / 8
    local cutoff = math.max(now - RETAIN, 0)
    if cutoff > kept then
      while drop < n do
        local p = struct.unpack('>d', s, HDR + 8 * drop + 1)
        if p >= cutoff then
          break
        end
        if p >= anchor then
          anchor = p + DAY
        end
        drop = drop + 1
      end
      n = n - drop
      kept = cutoff
      pruned = true
    end
  end
  local function pt(i)
    return (struct.unpack('>d', s, HDR + 8 * (drop + i - 1) + 1))
  end
  -- Writes the book: the kept logins, with `at` inserted after the first `split` of them if `insert`.
  local function save(split, new_cover, insert)
    local body = ''
    if s then
      local from = HDR + 8 * drop
      if insert then
        body = string.sub(s, from + 1, from + 8 * split) .. struct.pack('>d', at) .. string.sub(s, from + 8 * split + 1)
      else
        body = string.sub(s, from + 1)
      end
    elseif insert then
      body = struct.pack('>d', at)
    end
    redis.call('SET', bk, struct.pack('>ddd', kept, anchor, new_cover) .. body, 'PX', BOOK_TTL)
  end
  -- A refusal changes nothing but keeps the pruning, as the in-process book does.
  local function refused(err)
    if pruned then
      save(0, cover, false)
    end
    return err
  end

  if at < kept then
    return refused('E late ' .. fmt(kept))
  end
  local d = { { nil, 0 }, { nil, 0 } }
  local ma = month_of(at)
  local charged, ends, new_cover, split, insert
  if n == 0 or at > pt(n) then
    -- In time order.
    charged = at >= cover
    if charged then
      new_cover = at + DAY
      add(d, ma, 1)
    else
      new_cover = cover
      if n >= MAX_LOGINS then
        return refused('E many')
      end
    end
    ends, split, insert = new_cover, n, true
  else
    -- Out of order: the passes before `at` stand; walk the rest once as they are and once with `at`.
    local lo, hi = 0, n
    while lo < hi do
      local mid = math.floor((lo + hi) / 2)
      if pt(mid + 1) < at then
        lo = mid + 1
      else
        hi = mid
      end
    end
    split = lo
    local c = anchor
    for i = 1, split do
      local p = pt(i)
      if p >= c then
        c = p + DAY
      end
    end
    local dup = split < n and pt(split + 1) == at
    if at < c or dup then
      charged = false
      if at < c then
        ends = c
      else
        ends = at + DAY
      end
      new_cover, insert = cover, not dup
    else
      if n >= MAX_LOGINS then
        return refused('E many')
      end
      local oc, on, nc, nn = c, 0, at + DAY, 1
      add(d, ma, 1)
      for i = split + 1, n do
        local p = pt(i)
        if p >= oc then
          oc = p + DAY
          on = on + 1
          add(d, month_of(p), -1)
        end
        if p >= nc then
          nc = p + DAY
          nn = nn + 1
          add(d, month_of(p), 1)
        end
      end
      charged = nn > on
      ends, new_cover, insert = at + DAY, nc, true
    end
  end

  if refuse == '1' then
    local alloc = tonumber(alloc_s)
    for j = 1, 2 do
      local m, k = d[j][1], d[j][2]
      if m ~= nil and k > 0 then
        local used = math.max(hget(month_key(mbase, m), field), 0)
        if used + k > alloc then
          return refused('E over_l ' .. m .. ' ' .. fmt(used))
        end
      end
    end
  end

  if insert or pruned or not s then
    save(split, new_cover, insert)
  end
  local used = nil
  for j = 1, 2 do
    local m, k = d[j][1], d[j][2]
    if m ~= nil and k ~= 0 then
      local v = hincr(month_key(mbase, m), field, fmt(k))
      if m == ma then
        used = v
      end
    end
  end
  if used == nil then
    used = hget(month_key(mbase, ma), field)
  end
  return 'L ' .. (charged and '1' or '0') .. ' ' .. fmt(ends) .. ' ' .. ma .. ' ' .. fmt(math.max(used, 0)) .. ' ' .. alloc_s
end

-- Page views (local.rs `page_views`).
local function views(at, mbase, portal, count_s, alloc_s, refuse)
  local m = month_of(at)
  local key, field = month_key(mbase, m), 'v:' .. portal
  local used = hget(key, field)
  if refuse == '1' and used + tonumber(count_s) > tonumber(alloc_s) then
    return 'E over_v ' .. m .. ' ' .. fmt(used)
  end
  local after = hincr(key, field, count_s)
  return 'V ' .. m .. ' ' .. count_s .. ' ' .. fmt(after) .. ' ' .. alloc_s
end

-- AI Builder credits (local.rs `consume`).
local function credits(at, mbase, env, charge_s, alloc_s, unalloc_s, pool_use)
  local m = month_of(at)
  local key = month_key(mbase, m)
  local pool = not (tonumber(alloc_s) > 0)
  local used, avail_s, src
  if pool then
    used, avail_s, src = hget(key, 'pool'), unalloc_s, '1'
  else
    used, avail_s, src = hget(key, 'c:' .. env), alloc_s, '0'
  end
  local charge = tonumber(charge_s)
  if charge > 0 then
    if pool and pool_use ~= '1' then
      return 'E noalloc'
    end
    if used + charge > tonumber(avail_s) then
      return 'E overdraft ' .. src .. ' ' .. m .. ' ' .. fmt(used)
    end
    hincr(key, 'c:' .. env, charge_s)
    if pool then
      hincr(key, 'pool', charge_s)
    end
  end
  return 'C ' .. m .. ' ' .. src .. ' ' .. charge_s .. ' ' .. fmt(used + charge) .. ' ' .. avail_s
end

local out = {}
local kc = 0
for i = 1, (#ARGV - 7) / 9 do
  local b = 7 + 9 * (i - 1)
  local kind, fp, at = ARGV[b + 1], ARGV[b + 2], tonumber(ARGV[b + 3])
  local idk, bk = nil, nil
  if fp ~= '-' then
    kc = kc + 1
    idk = KEYS[kc]
  end
  if kind == 'L' then
    kc = kc + 1
    bk = KEYS[kc]
  end
  local seen = idk and redis.call('GET', idk)
  local ans
  if seen then
    local sp = string.find(seen, ' ', 1, true)
    if sp and string.sub(seen, 1, sp - 1) == fp then
      ans = 'R ' .. string.sub(seen, sp + 1)
    else
      ans = 'E reused'
    end
  else
    if kind == 'L' then
      ans = login(bk, at, ARGV[b + 4], ARGV[b + 5], ARGV[b + 6], ARGV[b + 7])
    elseif kind == 'V' then
      ans = views(at, ARGV[b + 4], ARGV[b + 5], ARGV[b + 6], ARGV[b + 7], ARGV[b + 8])
    else
      ans = credits(at, ARGV[b + 4], ARGV[b + 5], ARGV[b + 6], ARGV[b + 7], ARGV[b + 8], ARGV[b + 9])
    end
    if idk and string.sub(ans, 1, 1) ~= 'E' then
      redis.call('SET', idk, fp .. ' ' .. ans, 'PX', ID_TTL)
    end
  end
  out[i] = ans
end
return out
