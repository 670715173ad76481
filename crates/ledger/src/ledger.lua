-- entitle-ledger: takes a chunk of consumption events (logins, page views, AI Builder credits) with exactly the
-- semantics of the in-process ledger (src/local.rs, src/pass.rs). Atomic because Redis runs a script alone: the
-- id check, the day-pass book, the allocation checks and the counts of an event are one step, whatever node sent it.
--
-- ARGV[1] now_ms (the caller's clock), ARGV[2] RETAIN_MS, ARGV[3] DAY_MS, ARGV[4] book ttl (ms), ARGV[5] id ttl
-- (ms), ARGV[6] month ttl (ms), ARGV[7] MAX_LOGINS, ARGV[8] work budget, ARGV[9] SMALL (bytes: books up to this
-- size are read and written whole); then 9 per event (at 9 + 9(i-1) + 1..9):
--   kind ('L' login, 'V' page views, 'C' credits), fingerprint ('-': no id), at_ms, month key base (the month's
--   key is this base followed by YYYY-MM), name (portal or environment), then
--   L: logins allocated, refuse (1/0), 0, 0
--   V: count, page views allocated, refuse (1/0), 0
--   C: credits charged (0 for a preview model), allocated to the environment, unallocated, pool use allowed (1/0)
-- KEYS, per event in order: its id key if it has an id, then its pass book if it is a login.
--
-- Month hash (one per tenant and month; fields l:<portal> passes (signed), v:<portal> page views, c:<env> credits,
-- pool credits from the unallocated pool): written through the base, in the tenant's hash slot.
-- Pass books: see open_book below.
--
-- Work: about 100 ns of Redis each unit (an event 20, a login copied 1, a login decoded 6, a call on a range 10).
-- Once the budget is spent the
-- script stops after the event at hand and answers the events taken so far (at least one); the client sends the
-- rest in another call. So a call on huge books (up to MAX_LOGINS logins each) does not hold Redis for long.
--
-- Returns one string per event taken: 'L charged pass_ends month used allocated', 'V month counted used allocated',
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
local BUDGET = tonumber(ARGV[8])
local SMALL = tonumber(ARGV[9])
local G = 9
local HDR = 32
local work = 0

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

-- A pass book (a string): four big-endian doubles kept_from, anchor, cover and `dead`, then `dead` logins already
-- folded into the anchor but not yet dropped, then the kept logins, ascending, each a double 2 * time + opener
-- (exact: every time is below 2^52), where opener is 1 when the login opens a pass in the time-order walk of the
-- book's logins: so a late login finds the cover just before it by looking back to the last opener, not by
-- walking from the oldest login. A book of at most SMALL bytes is read and written whole (fewest calls); a larger one by ranges, so
-- that a login in time order costs the same whatever the book's size: the folded logins are dropped only when
-- they outnumber the kept ones, or when the book is written whole anyway.
local function open_book(bk)
  local len = redis.call('STRLEN', bk)
  local b = { key = bk, exists = len > 0, kept = 0, anchor = 0, cover = 0, dead = 0, n = 0, s = nil }
  if len == 0 then
    return b
  end
  local h
  if len <= SMALL then
    b.s = redis.call('GET', bk)
    h = b.s
    work = work + len / 8
  else
    h = redis.call('GETRANGE', bk, 0, HDR - 1)
    work = work + 10
  end
  b.kept, b.anchor, b.cover, b.dead = struct.unpack('>dddd', h)
  b.n = (len - HDR) / 8 - b.dead
  return b
end

-- Kept login i (1-based): its time, and 1 if it opens a pass (else 0).
local function pt(b, i)
  local off = HDR + 8 * (b.dead + i - 1)
  local v
  if b.s then
    work = work + 6
    v = struct.unpack('>d', b.s, off + 1)
  else
    work = work + 10
    v = struct.unpack('>d', redis.call('GETRANGE', b.key, off, off + 7))
  end
  local opener = math.fmod(v, 2)
  return (v - opener) / 2, opener
end

-- The whole book, for a walk over its logins.
local function load(b)
  if b.exists and not b.s then
    b.s = redis.call('GET', b.key)
    work = work + #b.s / 8
  end
end

-- Writes the book, with the login `v` (2 * time + opener) inserted after the first `split` kept logins if given,
-- and the `nre` kept logins after those replaced by `re` (packed).
local function save(b, split, v, re, nre)
  local header = struct.pack('>dddd', b.kept, b.anchor, b.cover, b.dead)
  if b.exists and not b.s and b.dead <= b.n and nre == 0 and (v == nil or split == b.n) then
    redis.call('SETRANGE', b.key, 0, header)
    if v then
      redis.call('APPEND', b.key, struct.pack('>d', v))
    end
    redis.call('PEXPIRE', b.key, BOOK_TTL)
    work = work + 30
    return
  end
  load(b)
  local body = ''
  if b.s then
    local from = HDR + 8 * b.dead
    body = string.sub(b.s, from + 1, from + 8 * split)
    if v then
      body = body .. struct.pack('>d', v)
    end
    body = body .. re .. string.sub(b.s, from + 8 * (split + nre) + 1)
  elseif v then
    body = struct.pack('>d', v)
  end
  b.dead = 0
  header = struct.pack('>dddd', b.kept, b.anchor, b.cover, 0)
  redis.call('SET', b.key, header .. body, 'PX', BOOK_TTL)
  work = work + b.n
end

-- PassBook::prune: folds the logins older than `now - RETAIN` into the anchor.
local function prune(b)
  local cutoff = math.max(now - RETAIN, 0)
  if cutoff <= b.kept then
    return false
  end
  while b.n > 0 do
    local p = pt(b, 1)
    if p >= cutoff then
      break
    end
    if p >= b.anchor then
      b.anchor = p + DAY
    end
    b.dead = b.dead + 1
    b.n = b.n - 1
  end
  b.kept = cutoff
  return true
end

-- One login: PassBook::prune, plan and apply, then the month counts (local.rs `login`).
local function login(bk, at, mbase, portal, alloc_s, refuse)
  local field = 'l:' .. portal
  local b = open_book(bk)
  -- A new book is not pruned, as in process (its kept_from stays 0).
  local pruned = b.exists and prune(b)
  -- A refusal changes nothing but keeps the pruning, as the in-process book does.
  local function refused(err)
    if pruned then
      save(b, 0, nil, '', 0)
    end
    return err
  end

  if at < b.kept then
    return refused('E late ' .. fmt(b.kept))
  end
  local n = b.n
  local d = { { nil, 0 }, { nil, 0 } }
  local ma = month_of(at)
  local charged, ends, new_cover, split, insert, opener
  -- Logins after `at` whose opener flag changed, packed, and how many (all those up to where the two walks meet).
  local re, nre = '', 0
  if n == 0 or at > pt(b, n) then
    -- In time order.
    charged = at >= b.cover
    if charged then
      new_cover = at + DAY
      add(d, ma, 1)
      opener = 1
    else
      new_cover = b.cover
      if n >= MAX_LOGINS then
        return refused('E many')
      end
      opener = 0
    end
    ends, split, insert = new_cover, n, true
  else
    -- Out of order: the passes before `at` stand; walk the rest once as they are and once with `at`.
    load(b)
    local lo, hi = 0, n
    while lo < hi do
      local mid = math.floor((lo + hi) / 2)
      if pt(b, mid + 1) < at then
        lo = mid + 1
      else
        hi = mid
      end
    end
    split = lo
    -- The cover just before `at`: the end of the pass of the last opener before it, else the anchor (a kept login
    -- at or after the anchor with no opener before it would open a pass itself).
    local c = b.anchor
    for i = split, 1, -1 do
      local p, o = pt(b, i)
      if o == 1 then
        c = p + DAY
        break
      end
    end
    local dup = split < n and pt(b, split + 1) == at
    if at < c or dup then
      charged = false
      if at < c then
        ends = c
      else
        ends = at + DAY
      end
      new_cover, insert, opener = b.cover, not dup, 0
    else
      if n >= MAX_LOGINS then
        return refused('E many')
      end
      local oc, on, nc, nn = c, 0, at + DAY, 1
      add(d, ma, 1)
      -- Once both walks have the same cover they stay together: the rest adds -1 and +1 to the same months (the
      -- in-process walk goes on to the end for the same net deltas), and the cover is the book's.
      local flags, met = {}, false
      for i = split + 1, n do
        local p = pt(b, i)
        local o = 0
        if p >= oc then
          oc = p + DAY
          on = on + 1
          add(d, month_of(p), -1)
        end
        if p >= nc then
          nc = p + DAY
          nn = nn + 1
          add(d, month_of(p), 1)
          o = 1
        end
        flags[#flags + 1] = struct.pack('>d', 2 * p + o)
        if oc == nc then
          met = true
          break
        end
      end
      charged = nn > on
      ends, insert, opener = at + DAY, true, 1
      new_cover = met and b.cover or nc
      re, nre = table.concat(flags), #flags
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

  if insert or pruned then
    b.cover = new_cover
    save(b, split, insert and 2 * at + opener or nil, re, nre)
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
for i = 1, (#ARGV - G) / 9 do
  local b = G + 9 * (i - 1)
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
  work = work + 20
  if work >= BUDGET then
    break
  end
end
return out
