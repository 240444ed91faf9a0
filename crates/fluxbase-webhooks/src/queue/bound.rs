//! The stream's bound, kept by refusing rather than forgetting: the Lua
//! function every script that adds to the stream runs first.

/// Lua: `room(key, max)` makes room in stream `key` for one more entry
/// under the bound `max`, and says whether there is.
///
/// While the stream holds fewer than `max` entries this is one `XLEN`. At
/// the bound it trims, with `XTRIM … MINID`, the entries before the first
/// one some consumer group still needs: for each group (`XINFO GROUPS`) its
/// smallest pending id (`XPENDING` summary), or with nothing pending the
/// first entry after its `last-delivered-id`. So only entries every group
/// has read and acknowledged go, all of them at once; with no group at all
/// nothing goes. It answers `false` when the stream still holds `max`
/// entries or more: the caller refuses with [`FULL`].
///
/// Ids compare as (milliseconds, sequence) numbers of up to 20 digits each,
/// by length, then byte by byte (Redis writes them without leading zeros),
/// never as Lua numbers (doubles lose digits past 2^53) nor with `<` on
/// strings (which follows the server's locale). Needs Redis 6.2 (`XTRIM
/// MINID`, exclusive `XRANGE`); the `entries-read` and `lag` fields of
/// Redis 7 are not used.
macro_rules! room_lua {
    () => {
        r"
local function digits_before(a, b)
  if #a ~= #b then return #a < #b end
  for i = 1, #a do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return false
end
local function id_before(a, b)
  local am, as = string.match(a, '^(%d+)%-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)%-(%d+)$')
  if am ~= bm then return digits_before(am, bm) end
  return digits_before(as, bs)
end
local function room(key, max)
  if redis.call('XLEN', key) < max then return true end
  local groups = redis.call('XINFO', 'GROUPS', key)
  if #groups == 0 then return false end
  local keep = nil
  for _, g in ipairs(groups) do
    local name, pending, last
    for i = 1, #g, 2 do
      if g[i] == 'name' then name = g[i + 1]
      elseif g[i] == 'pending' then pending = g[i + 1]
      elseif g[i] == 'last-delivered-id' then last = g[i + 1] end
    end
    local first = nil
    if pending > 0 then
      first = redis.call('XPENDING', key, name)[2]
    else
      local after = redis.call('XRANGE', key, '(' .. last, '+', 'COUNT', 1)
      if #after > 0 then first = after[1][1] end
    end
    if first and (keep == nil or id_before(first, keep)) then keep = first end
  end
  if keep == nil then
    redis.call('XTRIM', key, 'MAXLEN', 0)
  else
    redis.call('XTRIM', key, 'MINID', keep)
  end
  return redis.call('XLEN', key) < max
end
"
    };
}
pub(crate) use room_lua;

/// The error code a script answers with when [`room_lua`]'s `room` found
/// none: the stream is full of entries not yet processed.
pub(crate) const FULL: &str = "FULL";
