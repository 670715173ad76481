-- entitle-meter: after a meter call timed out, cancel it or fetch what it decided, atomically.
--
-- KEYS[1]: the call's token key; ARGV[1]: how long a cancel marker lives (ms).
-- Returns the stored answer if the call's script ran (it counted: that answer is the truth), or nil after
-- leaving a cancel marker (the script has not run, and when it does it will count nothing). Redis runs one
-- script at a time, so exactly one of the two happens first.

local v = redis.call('GET', KEYS[1])
if v then
  return v
end
redis.call('SET', KEYS[1], 'cancelled', 'PX', ARGV[1])
return false
