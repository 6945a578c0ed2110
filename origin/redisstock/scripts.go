package redisstock

import "github.com/redis/go-redis/v9"

// The scripts below are the only writers of a sku's counters. Each validates
// everything before its first write, so a refused purchase leaves no trace.
//
// sku hash fields: live, total (units on sale), sold (units reserved or
// sold), ver (stock version), limit (per buyer), low (low-stock threshold),
// start and end (sale window, Unix ms, 0 = open), upd (last change, Unix ms).

// reserveScript admits or refuses one purchase. Refusals carry the units
// the buyer already holds: a buyer holding units may be replaying a
// purchase whose idempotency record Redis no longer has.
// KEYS: sku hash, held hash, idempotency hash.
// ARGV: buyer, quantity, fingerprint, now ms, order id, pending TTL ms.
var reserveScript = redis.NewScript(`
local idem = redis.call('HMGET', KEYS[3], 'st', 'fp', 'resp', 'oid')
if idem[1] then
  if idem[2] ~= ARGV[3] then return {'reused'} end
  if idem[1] == 'p' then return {'in_use'} end
  return {'replay', idem[3]}
end
local s = redis.call('HMGET', KEYS[1], 'live', 'total', 'sold', 'ver', 'limit', 'low', 'start', 'end')
if not s[1] then return {'missing'} end
local held = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
local now = tonumber(ARGV[4])
local start, stop = tonumber(s[7]), tonumber(s[8])
if (start > 0 and now < start) or (stop > 0 and now >= stop) then return {'not_open', held} end
local qty = tonumber(ARGV[2])
local remaining = tonumber(s[2]) - tonumber(s[3])
if remaining <= 0 then return {'sold_out', held} end
if qty > remaining then return {'insufficient', held} end
if held + qty > tonumber(s[5]) then return {'limit', held} end
redis.call('HINCRBY', KEYS[1], 'sold', qty)
local ver = redis.call('HINCRBY', KEYS[1], 'ver', 1)
redis.call('HSET', KEYS[1], 'upd', ARGV[4])
redis.call('HINCRBY', KEYS[2], ARGV[1], qty)
redis.call('HSET', KEYS[3], 'st', 'p', 'fp', ARGV[3], 'oid', ARGV[5])
redis.call('PEXPIRE', KEYS[3], ARGV[6])
return {'ok', remaining - qty, ver, s[1], s[6], ARGV[4]}
`)

// releaseScript gives a reservation back. It acts only while the
// idempotency record still names this order: that makes a double release
// impossible, and after a Redis loss (record gone, counters rebuilt from the
// database, which never saw this order) it correctly does nothing.
// KEYS: sku hash, held hash, idempotency hash.
// ARGV: buyer, quantity, now ms, order id.
var releaseScript = redis.NewScript(`
if redis.call('HGET', KEYS[3], 'oid') ~= ARGV[4] then return {'gone'} end
redis.call('DEL', KEYS[3])
if redis.call('EXISTS', KEYS[1]) == 0 then return {'gone'} end
local qty = tonumber(ARGV[2])
local sold = redis.call('HINCRBY', KEYS[1], 'sold', -qty)
local ver = redis.call('HINCRBY', KEYS[1], 'ver', 1)
redis.call('HSET', KEYS[1], 'upd', ARGV[3])
if redis.call('HINCRBY', KEYS[2], ARGV[1], -qty) <= 0 then redis.call('HDEL', KEYS[2], ARGV[1]) end
local s = redis.call('HMGET', KEYS[1], 'live', 'total', 'low')
return {'ok', tonumber(s[2]) - sold, ver, s[1], s[3], ARGV[3]}
`)

// loadScript installs a sku rebuilt from the database of record, unless a
// concurrent rebuild or a purchase got there first. It adds the sku to its
// live's listing only when that listing is loaded: a listing is created
// whole from the database (MarkLive), never piecemeal.
// KEYS: sku hash, held hash, live hash.
// ARGV: sku, live, total, sold, ver, limit, low, start, end, upd, then
// buyer/units pairs.
var loadScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('DEL', KEYS[2])
for i = 11, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
redis.call('HSET', KEYS[1], 'live', ARGV[2], 'total', ARGV[3], 'sold', ARGV[4], 'ver', ARGV[5],
  'limit', ARGV[6], 'low', ARGV[7], 'start', ARGV[8], 'end', ARGV[9], 'upd', ARGV[10])
if redis.call('EXISTS', KEYS[3]) == 1 then redis.call('HSET', KEYS[3], ARGV[1], '1') end
return 1
`)

// applyScript changes a loaded sku's settings after the database of record
// committed them. The version moves past both its own value and the
// database's, so it stays monotonic whichever side was ahead.
// KEYS: sku hash, live hash.
// ARGV: sku, live, total, limit, low, start, end, now ms, database version.
var applyScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return {'missing'} end
local ver = tonumber(redis.call('HGET', KEYS[1], 'ver')) + 1
if tonumber(ARGV[9]) > ver then ver = tonumber(ARGV[9]) end
redis.call('HSET', KEYS[1], 'live', ARGV[2], 'total', ARGV[3], 'limit', ARGV[4], 'low', ARGV[5],
  'start', ARGV[6], 'end', ARGV[7], 'upd', ARGV[8], 'ver', ver)
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('HSET', KEYS[2], ARGV[1], '1') end
local s = redis.call('HMGET', KEYS[1], 'total', 'sold')
return {'ok', tonumber(s[1]) - tonumber(s[2]), ver, ARGV[2], ARGV[5], ARGV[8]}
`)

// windowScript moves the sale window of the loaded skus among KEYS; it is
// not a stock change, so versions stay.
// KEYS: sku hashes. ARGV: start, end.
var windowScript = redis.NewScript(`
for _, k in ipairs(KEYS) do
  if redis.call('EXISTS', k) == 1 then redis.call('HSET', k, 'start', ARGV[1], 'end', ARGV[2]) end
end
return 1
`)

// clampScript lowers a sku's remaining to at most the database's, after
// the database refused a purchase Redis admitted. It only ever raises sold,
// and only while both sides agree on the units on sale.
// KEYS: sku hash. ARGV: database stock, database sold, now ms.
var clampScript = redis.NewScript(`
local s = redis.call('HMGET', KEYS[1], 'total', 'sold', 'low', 'live')
if not s[1] or tonumber(s[1]) ~= tonumber(ARGV[1]) then return {'skip'} end
local dbRemaining = tonumber(ARGV[1]) - tonumber(ARGV[2])
if tonumber(s[1]) - tonumber(s[2]) <= dbRemaining then return {'skip'} end
local sold = tonumber(s[1]) - dbRemaining
redis.call('HSET', KEYS[1], 'sold', sold, 'upd', ARGV[3])
local ver = redis.call('HINCRBY', KEYS[1], 'ver', 1)
return {'ok', dbRemaining, ver, s[4], s[3], ARGV[3]}
`)

// repairScript overwrites drifted counters with the database's, for
// reconcile. It refuses when the sku changed at all since it was compared
// (its version moved), so a purchase, give-back or merchant change in
// between is never erased.
// KEYS: sku hash, held hash.
// ARGV: expected version, total, sold, database version, now ms, then
// buyer/units pairs.
var repairScript = redis.NewScript(`
local s = redis.call('HMGET', KEYS[1], 'ver', 'total', 'low', 'live')
if not s[1] or s[1] ~= ARGV[1] then return {'moved'} end
local ver = tonumber(s[1]) + 1
if tonumber(ARGV[4]) > ver then ver = tonumber(ARGV[4]) end
redis.call('HSET', KEYS[1], 'total', ARGV[2], 'sold', ARGV[3], 'ver', ver, 'upd', ARGV[5])
redis.call('DEL', KEYS[2])
for i = 6, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
return {'ok', tonumber(ARGV[2]) - tonumber(ARGV[3]), ver, s[4], s[3], ARGV[5]}
`)

// markAbsentScript remembers that an id is unknown to the database, unless
// it was created since the reader looked (a creation sets the second key
// after it clears the first), which would hide a new live or sku for the
// whole unknown-id TTL.
// KEYS: absence mark, creation mark. ARGV: TTL in ms.
var markAbsentScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
return 1
`)
