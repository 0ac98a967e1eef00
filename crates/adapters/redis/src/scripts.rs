//! The Lua the adapters run, built from shared pieces so the limiter and the
//! gate (which also serves the cache's versioned reads) cannot drift apart: GCRA (one key, Redis's own clock) and the
//! versioned read (a scope's version, allocated if absent, and the entry for it
//! unless the reader holds it).

use std::time::Duration;

use devora_ports::{Entry, RateLimitDecision, Versioned};
use redis::Value;

/// `gcra(key, interval_ms, limit)` -> {allowed, remaining, retry_after_ms, reset_after_ms}.
/// The key holds the theoretical arrival time (TAT) in milliseconds of Redis's
/// own clock, so every node agrees whatever its local clock says.
const GCRA_FN: &str = r"
local function gcra(key, interval, limit)
  local tolerance = interval * limit
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then tat = now end
  local new_tat = tat + interval
  local allow_at = new_tat - tolerance
  if allow_at > now then
    return {0, 0, allow_at - now, tat - now}
  end
  redis.call('SET', key, new_tat, 'PX', new_tat - now)
  return {1, math.floor((now - allow_at) / interval), 0, new_tat - now}
end
";

/// `read_versioned(out, version_key, counter_key, data_key, held, ttl)` appends
/// {version, kind, value} to `out`: kind 0 missing, 1 held (value not sent), 2 value.
const READ_VERSIONED_FN: &str = r"
local function read_versioned(out, version_key, counter_key, data_key, held, ttl)
  local v = redis.call('GET', version_key)
  if not v then
    v = redis.call('INCR', counter_key)
    redis.call('SET', version_key, v, 'EX', ttl)
  end
  v = tostring(v)
  out[#out + 1] = tonumber(v)
  if held == v then
    out[#out + 1] = 1
    out[#out + 1] = ''
    return
  end
  local value = redis.call('GET', data_key .. '#v' .. v)
  if value then
    out[#out + 1] = 2
    out[#out + 1] = value
  else
    out[#out + 1] = 0
    out[#out + 1] = ''
  end
end
";

/// KEYS[1] the rate key; ARGV: interval ms, limit.
pub fn gcra() -> String {
    format!("{GCRA_FN}\nreturn gcra(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]))")
}

/// The request gate, and every versioned read. KEYS[1] the version counter,
/// then one version key per read, then, when a request is counted, its rate
/// key. ARGV[1] interval ms ('0': nothing counted), ARGV[2] limit, ARGV[3]
/// read-version TTL, then per read its data key and held version ('' when
/// none). Returns the four GCRA numbers ({1, 0, 0, 0} when nothing is counted),
/// then, unless refused, {version, kind, value} per read.
pub fn gate() -> String {
    format!(
        r"{GCRA_FN}
{READ_VERSIONED_FN}
local out = {{1, 0, 0, 0}}
local reads = #KEYS - 1
if ARGV[1] ~= '0' then
  reads = reads - 1
  out = gcra(KEYS[#KEYS], tonumber(ARGV[1]), tonumber(ARGV[2]))
  if out[1] == 0 then return out end
end
for i = 1, reads do
  read_versioned(out, KEYS[1 + i], KEYS[1], ARGV[2 + 2 * i], ARGV[3 + 2 * i], ARGV[3])
end
return out"
    )
}

/// The limiter's answer from the four GCRA numbers.
pub fn decision(numbers: [i64; 4], limit: u32) -> RateLimitDecision {
    let [allowed, remaining, retry_ms, reset_ms] = numbers;
    let ms = |v: i64| Duration::from_millis(u64::try_from(v).unwrap_or(0));
    RateLimitDecision {
        allowed: allowed == 1,
        remaining: u32::try_from(remaining).unwrap_or(0).min(limit),
        reset_after: ms(reset_ms),
        retry_after: (allowed != 1).then(|| ms(retry_ms)),
    }
}

/// Reads a script's flat reply, in order.
pub struct Reply(std::vec::IntoIter<Value>);

#[derive(Debug, thiserror::Error)]
#[error("unexpected script reply")]
pub struct BadReply;

impl Reply {
    pub fn new(value: Value) -> Result<Self, BadReply> {
        match value {
            Value::Array(items) => Ok(Self(items.into_iter())),
            _ => Err(BadReply),
        }
    }

    pub fn int(&mut self) -> Result<i64, BadReply> {
        match self.0.next() {
            Some(Value::Int(n)) => Ok(n),
            _ => Err(BadReply),
        }
    }

    pub fn gcra(&mut self) -> Result<[i64; 4], BadReply> {
        Ok([self.int()?, self.int()?, self.int()?, self.int()?])
    }

    /// One `read_versioned` answer.
    pub fn versioned(&mut self) -> Result<Versioned, BadReply> {
        let version = u64::try_from(self.int()?).map_err(|_| BadReply)?;
        let kind = self.int()?;
        let value = match self.0.next() {
            Some(Value::BulkString(bytes)) => bytes,
            _ => return Err(BadReply),
        };
        let entry = match kind {
            0 => Entry::Missing,
            1 => Entry::Held,
            2 => Entry::Value(value),
            _ => return Err(BadReply),
        };
        Ok(Versioned { version, entry })
    }

    pub fn is_done(&self) -> bool {
        self.0.len() == 0
    }
}
