-- wrk script for authd, the counterpart of the actix-limit anchor's limit.lua.
-- AUTHD_MODE   get_app | totp | hotp | verify | create_app | create_account | list_accounts |
--              get_row | post_row (create_account: POST a TOTP otpauth URI to AUTHD_PATH, an
--              app's .../accounts)
--              (verify: POST {"otp_code": "000000"} to a random account's .../verify: a wrong
--              code, so each account answers 200 "invalid" and then 429 while locked; the
--              result line adds the count of each)
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
local threads = {}

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
  threads[#threads + 1] = thread
end

function init(args)
  math.randomseed(os.time() * 1000 + (tid or 0))
  if mode == "get_app" or mode == "get_row" then
    for line in io.lines(os.getenv("AUTHD_IDS")) do
      if #line > 0 then ids[#ids + 1] = line end
    end
    if #ids == 0 then error("no ids") end
  end
  if mode == "totp" or mode == "hotp" or mode == "verify" then
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
  elseif mode == "create_account" then
    return wrk.format("POST", fixed, json,
      '{"otpauth_uri":"otpauth://totp/Bench:rot?secret=JBSWY3DPEHPK3PXP&issuer=Bench"}')
  elseif mode == "totp" or mode == "hotp" then
    return wrk.format("POST", ids[math.random(#ids)], auth)
  elseif mode == "verify" then
    return wrk.format("POST", ids[math.random(#ids)], json, '{"otp_code":"000000"}')
  else
    return wrk.format("GET", fixed, auth)
  end
end

-- verify: count the answers by status (only in that mode: a Lua callback per response costs).
if mode == "verify" then
  n200, n429, nother = 0, 0, 0
  response = function(status, headers, body)
    if status == 200 then n200 = n200 + 1 elseif status == 429 then n429 = n429 + 1 else nother = nother + 1 end
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  local errors = e.connect + e.read + e.write + e.status + e.timeout
  local extra = ""
  if mode == "verify" then
    local a, b, c = 0, 0, 0
    for _, t in ipairs(threads) do
      a = a + (t:get("n200") or 0); b = b + (t:get("n429") or 0); c = c + (t:get("nother") or 0)
    end
    -- 429 is an expected answer here, not an error.
    errors = e.connect + e.read + e.write + e.timeout + c
    extra = string.format(" s200=%d s429=%d", a, b)
  end
  local secs = summary.duration / 1e6
  io.write(string.format("%s rps=%.0f p50_ms=%.3f p99_ms=%.3f errors=%d%s\n",
    os.getenv("AUTHD_LABEL") or mode, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, errors, extra))
end
