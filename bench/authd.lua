-- wrk script for authd, the counterpart of the actix-limit anchor's limit.lua.
-- AUTHD_MODE   get_app | totp | hotp | create_app | list_accounts | get_row | post_row
-- AUTHD_TOKEN  service token (sent as X-Service-Token)
-- AUTHD_IDS    file of app ids (get_app) or anchor row ids (get_row)
-- AUTHD_PATH   fixed path (list_accounts)
-- AUTHD_PATHS  file of paths, one picked at random per request (totp, hotp)
-- AUTHD_LABEL  label of the result line
local mode = os.getenv("AUTHD_MODE") or "get_app"
local token = os.getenv("AUTHD_TOKEN") or ""
local fixed = os.getenv("AUTHD_PATH") or "/"
local ids = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
end

function init(args)
  math.randomseed(os.time() * 1000 + (tid or 0))
  if mode == "get_app" or mode == "get_row" then
    for line in io.lines(os.getenv("AUTHD_IDS")) do
      if #line > 0 then ids[#ids + 1] = line end
    end
    if #ids == 0 then error("no ids") end
  end
  if mode == "totp" or mode == "hotp" then
    for line in io.lines(os.getenv("AUTHD_PATHS")) do
      if #line > 0 then ids[#ids + 1] = line end
    end
    if #ids == 0 then error("no paths") end
  end
end

local auth = { ["X-Service-Token"] = token }
local json = { ["X-Service-Token"] = token, ["Content-Type"] = "application/json" }
local statuses = { "active", "pending", "suspended", "archived" }

request = function()
  if mode == "get_app" then
    return wrk.format("GET", "/api/v1/authenticator/apps/" .. ids[math.random(#ids)], auth)
  elseif mode == "get_row" then
    return wrk.format("GET", "/row/" .. ids[math.random(#ids)])
  elseif mode == "post_row" then
    local n = math.random(0, 999999)
    local identity = (n % 3 == 0) and "null" or string.format('"idn_w%06d"', n)
    local body = string.format('{"organization_id":"org_%04d","identity_id":%s,"status":"%s"}',
      n % 1000, identity, statuses[(n % 4) + 1])
    return wrk.format("POST", "/row", { ["Content-Type"] = "application/json" }, body)
  elseif mode == "create_app" then
    return wrk.format("POST", "/api/v1/authenticator/apps", json, "{}")
  elseif mode == "totp" or mode == "hotp" then
    return wrk.format("POST", ids[math.random(#ids)], auth)
  else
    return wrk.format("GET", fixed, auth)
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  local errors = e.connect + e.read + e.write + e.status + e.timeout
  local secs = summary.duration / 1e6
  io.write(string.format("%s rps=%.0f p50_ms=%.3f p99_ms=%.3f errors=%d\n",
    os.getenv("AUTHD_LABEL") or mode, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, errors))
end
