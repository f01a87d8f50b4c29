import type { Connection } from './connection.js';

/**
 * Every operation that reads or changes a channel runs as one Lua script, so it is atomic across all
 * server processes sharing the Redis: the offset is read and incremented, the idempotency key checked
 * and stored, and the message appended and PUBLISHed in one step. Because Redis runs scripts one at a
 * time, PUBLISH order is offset order for every channel.
 *
 * Keys of a channel (see keys.ts): `meta` (hash e/o/l, and r: see lineage), `log` (stream), `snap`
 * (string), plus the prefix's `index` (sorted set of channel names by meta expiry) and, for publish,
 * the idempotency key. On Redis Cluster every key a script touches must be in one slot: the channel's
 * keys share its hash tag, and there is no index (the engine passes the meta key in its place and
 * lists channels by scanning each master instead). PUBLISH is not a key: on Cluster it reaches every
 * node, and since a channel lives on one node its messages still arrive in offset order.
 *
 * History is a Redis Stream with explicit ids `0-<offset>`: reading "after N, at most L" is one
 * `XRANGE 0-(N+1) + COUNT L`, trimming by count and by oldest offset are `MAXLEN` and `XTRIM MINID`,
 * and each entry keeps its timestamp in a field of its own (`t`) so trimming by age never decodes a
 * message. A list would need offset arithmetic and a sorted set costs more memory per message.
 *
 * Lifetimes: the meta (the channel's position) must outlive every other key of the channel, so a
 * channel never has history from an epoch it no longer knows; each script extends it (never
 * shortens it) to cover the log, the snapshot and any idempotency key, and to at least the idle
 * window after any use. The index mirrors the meta's expiry so `channels()` can drop forgotten names.
 */

const PRELUDE = `
local function fmt(n) return string.format('%d', n) end

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- The last argument of every channel script: '1' when positions must not outlive a failover.
local LINEAGE = ARGV[#ARGV] == '1'

-- The replication history this node's data belongs to. A replica promoted to master starts a new one,
-- so a channel last written under another id may have lost acknowledged writes in the failover.
local function lineage()
  if not LINEAGE then return nil end
  return string.match(redis.call('INFO', 'replication'), 'master_replid:(%w+)')
end

-- A missing meta is a new channel or a lost one (expired, evicted, FLUSHALL, restart without
-- persistence): either way a new epoch starts at offset 0, and leftovers of the old one are dropped.
-- A meta from another replication history (see lineage) is treated alike, except that the snapshot
-- is kept, restamped to the new epoch: it is the state this node has, and clients reset to it.
-- Without the channel index (Cluster: it would span slots) the index argument is the meta key itself.
local function load_meta(meta, log, snap, index, epoch, now)
  local m = redis.call('HMGET', meta, 'e', 'o', 'l', 'r')
  local id = lineage()
  if m[1] and (id == nil or m[4] == id) then return m[1], tonumber(m[2]), tonumber(m[3]) end
  redis.call('DEL', log)
  if m[1] then
    local s = redis.call('GET', snap)
    local ts, rest = s and string.match(s, '^%[[^,]*,%d+,(%d+)%](\\n.*)$')
    if ts then
      redis.call('SET', snap, '[' .. cjson.encode(epoch) .. ',0,' .. ts .. ']' .. rest, 'KEEPTTL')
    else
      redis.call('DEL', snap)
    end
  else
    redis.call('DEL', snap)
    if index ~= meta then redis.call('ZREMRANGEBYSCORE', index, '-inf', now) end
  end
  redis.call('HSET', meta, 'e', epoch, 'o', 0)
  if id then redis.call('HSET', meta, 'r', id) end
  return epoch, 0, tonumber(m[3])
end

-- Sets the key's time to live to at least ms; never shortens it.
local function extend(key, ms)
  if ms > 0 and redis.call('PTTL', key) < ms then redis.call('PEXPIRE', key, ms) end
end

local function keep_meta(meta, log, snap, index, channel, now, ms)
  extend(meta, math.max(ms, redis.call('PTTL', log), redis.call('PTTL', snap)))
  if index == meta then return end
  local ttl = redis.call('PTTL', meta)
  redis.call('ZADD', index, now + ttl, channel)
  extend(index, ttl)
end

local function seq(id) return tonumber(string.sub(id, 3)) end

-- Drops entries older than cutoff from the head. Timestamps grow with offsets, so the first
-- fresh entry ends the scan; the batch grows only while everything it sees is stale.
local function trim_age(log, cutoff)
  local count = 1
  while true do
    local batch = redis.call('XRANGE', log, '-', '+', 'COUNT', count)
    local n = #batch
    if n == 0 then return end
    for i = 1, n do
      if tonumber(batch[i][2][2]) >= cutoff then
        if i > 1 then redis.call('XTRIM', log, 'MINID', batch[i][1]) end
        return
      end
    end
    redis.call('XTRIM', log, 'MINID', '0-' .. fmt(seq(batch[n][1]) + 1))
    if n < count then return end
    count = math.min(count * 4, 256)
  end
end

local function first_offset(log, offset)
  local first = redis.call('XRANGE', log, '-', '+', 'COUNT', 1)[1]
  if first then return seq(first[1]) end
  return offset + 1
end
`;

/** Returns `{'ok', epoch, offset, ts}`, `{'dup', epoch, offset, ts}` or `{'conflict', epoch, offset}`. */
const PUBLISH = `
local meta, log, snap, index, idkey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local channel, data, id, if_offset = ARGV[1], ARGV[3], ARGV[4], ARGV[5]
local size, ttl, idem = tonumber(ARGV[8]), math.max(1, tonumber(ARGV[9])), tonumber(ARGV[10])
local idle, snap_ttl = tonumber(ARGV[12]), tonumber(ARGV[13])
local now = now_ms()
local epoch, offset = load_meta(meta, log, snap, index, ARGV[2], now)

-- The key is checked before ifOffset, so retrying a conditional publish that went through returns
-- its result rather than a conflict with itself.
if id ~= '' then
  local seen = redis.call('GET', idkey)
  if seen then
    local e, o, t = string.match(seen, '^(%S+) (%d+) (%d+)$')
    -- A key left from a lost epoch names a message that no longer exists: publish anew.
    if e == epoch then
      keep_meta(meta, log, snap, index, channel, now, idle)
      return {'dup', epoch, tonumber(o), tonumber(t)}
    end
  end
end
if if_offset ~= '' and tonumber(if_offset) ~= offset then
  keep_meta(meta, log, snap, index, channel, now, idle)
  return {'conflict', epoch, offset}
end

offset = offset + 1
redis.call('HSET', meta, 'o', offset, 'l', ttl)

local header = {cjson.encode(channel), cjson.encode(epoch), fmt(offset), fmt(now)}
local optional = {'null', 'null', 'null'}
local last = 0
if id ~= '' then optional[1] = cjson.encode(id); last = 1 end
if ARGV[6] ~= '' then optional[2] = ARGV[6]; last = 2 end
if ARGV[7] ~= '' then optional[3] = cjson.encode(ARGV[7]); last = 3 end
for i = 1, last do header[#header + 1] = optional[i] end
local encoded = '[' .. table.concat(header, ',') .. ']\\n' .. data

if size > 0 then
  redis.call('XADD', log, 'MAXLEN', size, '0-' .. fmt(offset), 't', now, 'm', encoded)
  trim_age(log, now - ttl)
  redis.call('PEXPIRE', log, ttl)
else
  redis.call('DEL', log)
end

local keep = math.max(idle, ttl)
if id ~= '' and idem > 0 then
  redis.call('SET', idkey, epoch .. ' ' .. fmt(offset) .. ' ' .. fmt(now), 'PX', idem)
  keep = math.max(keep, idem)
end
-- Publishing is activity: a snapshot lives snap_ttl after the channel's last use.
if redis.call('EXISTS', snap) == 1 then extend(snap, math.max(ttl, snap_ttl)) end
keep_meta(meta, log, snap, index, channel, now, keep)

redis.call('PUBLISH', ARGV[11], encoded)
return {'ok', epoch, offset, now}
`;

/** Returns `{epoch, offset}`. */
const POSITION = `
local meta, log, snap, index = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local now = now_ms()
local epoch, offset, ttl = load_meta(meta, log, snap, index, ARGV[2], now)
keep_meta(meta, log, snap, index, ARGV[1], now, math.max(tonumber(ARGV[3]), ttl or 0))
return {epoch, offset}
`;

/** Returns `{epoch, offset, firstOffset, message...}`. */
const READ = `
local meta, log, snap, index = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local after, limit = tonumber(ARGV[4]), tonumber(ARGV[5])
local now = now_ms()
local epoch, offset, ttl = load_meta(meta, log, snap, index, ARGV[2], now)
-- Age trimming otherwise happens only on publish; a quiet channel must not serve stale messages.
if ttl then trim_age(log, now - ttl) end
local out = {epoch, offset, first_offset(log, offset)}
if limit > 0 then
  local entries = redis.call('XRANGE', log, '0-' .. fmt(after + 1), '+', 'COUNT', limit)
  for i = 1, #entries do out[#out + 1] = entries[i][2][4] end
end
keep_meta(meta, log, snap, index, ARGV[1], now, math.max(tonumber(ARGV[3]), ttl or 0))
return out
`;

/** Returns `{epoch, offset}`. */
const SET_SNAPSHOT = `
local meta, log, snap, index = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local ttl, snap_ttl = math.max(1, tonumber(ARGV[5])), tonumber(ARGV[6])
local now = now_ms()
local epoch, offset = load_meta(meta, log, snap, index, ARGV[2], now)
redis.call('HSET', meta, 'l', ttl)
local encoded = '[' .. cjson.encode(epoch) .. ',' .. fmt(offset) .. ',' .. fmt(now) .. ']\\n' .. ARGV[4]
redis.call('SET', snap, encoded, 'PX', math.max(ttl, snap_ttl))
keep_meta(meta, log, snap, index, ARGV[1], now, math.max(tonumber(ARGV[3]), ttl))
return {epoch, offset}
`;

/** Returns the encoded snapshot or nil; never creates the channel. */
const SNAPSHOT = `
local meta, log, snap, index = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
if redis.call('EXISTS', meta) == 0 then return false end
local _, _, ttl = load_meta(meta, log, snap, index, ARGV[3], now_ms())
keep_meta(meta, log, snap, index, ARGV[1], now_ms(), math.max(tonumber(ARGV[2]), tonumber(ttl) or 0))
return redis.call('GET', snap)
`;

/** Keeps a known channel alive (a listener is on it); never creates one. Returns 1 if it exists. */
const TOUCH = `
local meta, log, snap, index = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
if redis.call('EXISTS', meta) == 0 then return 0 end
keep_meta(meta, log, snap, index, ARGV[1], now_ms(), tonumber(ARGV[2]))
return 1
`;

/** Returns the names of every channel whose meta has not expired. */
const CHANNELS = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_ms())
return redis.call('ZRANGE', KEYS[1], 0, -1)
`;

/*
 * Presence: per channel, a sorted set of connection ids scored by when each member expires (ms) and a
 * hash of their member JSON, both under the channel's hash tag. Each script first prunes members whose
 * time is up, PUBLISHing a leave for each: the ZREM decides, so exactly one process announces a
 * member's end. Events are `{"type":"join"|"leave","channel":…,"member":<member JSON>}`.
 */
const PRESENCE_PRELUDE = `
local function event(kind, channel, json)
  return '{"type":"' .. kind .. '","channel":' .. cjson.encode(channel) .. ',"member":' .. json .. '}'
end

-- A bounded batch per call keeps a script short after a whole process died; later calls take the rest.
local function prune(expiry, members, channel, topic, now)
  local dead = redis.call('ZRANGEBYSCORE', expiry, '-inf', now, 'LIMIT', 0, 500)
  for i = 1, #dead do
    local json = redis.call('HGET', members, dead[i])
    redis.call('ZREM', expiry, dead[i])
    redis.call('HDEL', members, dead[i])
    if json then redis.call('PUBLISH', topic, event('leave', channel, json)) end
  end
end
`;

/**
 * Adds or refreshes members: ARGV `channel, topic, ttlMs, client1, json1, client2, json2, …` (none: a
 * prune only). A member not there yet, or no longer (pruned while its process was stalled, or lost with
 * Redis's data), is announced with a join.
 */
const PRESENCE_JOIN = `
local expiry, members = KEYS[1], KEYS[2]
local channel, topic, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])
local now = now_ms()
prune(expiry, members, channel, topic, now)
for i = 4, #ARGV, 2 do
  local added = redis.call('ZADD', expiry, now + ttl, ARGV[i])
  redis.call('HSET', members, ARGV[i], ARGV[i + 1])
  if added == 1 then redis.call('PUBLISH', topic, event('join', channel, ARGV[i + 1])) end
end
-- Twice the TTL: a set nobody refreshes outlives its members long enough for a prune to announce them.
if #ARGV > 3 then
  extend(expiry, 2 * ttl)
  extend(members, 2 * ttl)
end
return 1
`;

/** Removes one member: ARGV `channel, topic, client`. */
const PRESENCE_LEAVE = `
local expiry, members = KEYS[1], KEYS[2]
local channel, topic, client = ARGV[1], ARGV[2], ARGV[3]
prune(expiry, members, channel, topic, now_ms())
local json = redis.call('HGET', members, client)
local removed = redis.call('ZREM', expiry, client)
redis.call('HDEL', members, client)
if removed == 1 and json then redis.call('PUBLISH', topic, event('leave', channel, json)) end
return removed
`;

/** Returns the member JSON of every live member: ARGV `channel, topic`. */
const PRESENCE_MEMBERS = `
local expiry, members = KEYS[1], KEYS[2]
local now = now_ms()
prune(expiry, members, ARGV[1], ARGV[2], now)
local live = redis.call('ZRANGEBYSCORE', expiry, '(' .. fmt(now), '+inf')
local out = {}
-- HMGET in slices: unpack() of a very long list would overflow the Lua stack.
for i = 1, #live, 1000 do
  local slice = {}
  for j = i, math.min(i + 999, #live) do slice[#slice + 1] = live[j] end
  local found = redis.call('HMGET', members, unpack(slice))
  for k = 1, #found do
    if found[k] then out[#out + 1] = found[k] end
  end
end
return out
`;

type Reply = Promise<unknown>;

/** The scripts, as ioredis custom commands (EVALSHA, falling back to EVAL after a script flush). */
export interface ScriptCommands {
  tidingsPublish(...args: string[]): Reply;
  tidingsPosition(...args: string[]): Reply;
  tidingsRead(...args: string[]): Reply;
  tidingsSetSnapshot(...args: string[]): Reply;
  tidingsSnapshot(...args: string[]): Reply;
  tidingsTouch(...args: string[]): Reply;
  tidingsChannels(...args: string[]): Reply;
  tidingsPresenceJoin(...args: string[]): Reply;
  tidingsPresenceLeave(...args: string[]): Reply;
  tidingsPresenceMembers(...args: string[]): Reply;
}

const SCRIPTS: Record<keyof ScriptCommands, { keys: number; body: string }> = {
  tidingsPublish: { keys: 5, body: PUBLISH },
  tidingsPosition: { keys: 4, body: POSITION },
  tidingsRead: { keys: 4, body: READ },
  tidingsSetSnapshot: { keys: 4, body: SET_SNAPSHOT },
  tidingsSnapshot: { keys: 4, body: SNAPSHOT },
  tidingsTouch: { keys: 4, body: TOUCH },
  tidingsChannels: { keys: 1, body: CHANNELS },
  tidingsPresenceJoin: { keys: 2, body: PRESENCE_PRELUDE + PRESENCE_JOIN },
  tidingsPresenceLeave: { keys: 2, body: PRESENCE_PRELUDE + PRESENCE_LEAVE },
  tidingsPresenceMembers: { keys: 2, body: PRESENCE_PRELUDE + PRESENCE_MEMBERS },
};

/** A command connection with the scripts defined. */
export type Commands = Connection & ScriptCommands;

export function defineScripts(redis: Connection): Commands {
  for (const [name, { keys, body }] of Object.entries(SCRIPTS)) {
    redis.defineCommand(name, { numberOfKeys: keys, lua: PRELUDE + body });
  }
  return redis as Commands;
}
