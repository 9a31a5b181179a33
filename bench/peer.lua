-- wrk script for authd in the privacyIDEA side-by-side (bench/peer.sh). Modeled on
-- bench/authd.lua (request shapes) and on the peer anchor's bench.lua (every response body is
-- checked, one result line + one detail line), so both servers are measured the same way.
--
-- AUTHD_MODE   list_accounts | totp | hotp | enroll
--   list_accounts  GET  AUTHD_PATH                      (the app's account list)
--   totp, hotp     POST AUTHD_PATH                      (.../accounts/{id}/generate-otp, no body)
--   enroll         POST AUTHD_PATH                      (.../accounts) with a fresh otpauth URI
-- AUTHD_TOKEN  service token (sent as X-Service-Token)
-- AUTHD_PATH   request path
-- AUTHD_LABEL  label of the result line, e.g. "authd list"
--
-- errors = socket errors + non-2xx/3xx (wrk's own count) + 2xx whose body is not the expected
-- shape (list: a JSON array; totp/hotp: has "otp_code"; enroll: has "id"), counted as bad_body.
local mode = os.getenv("AUTHD_MODE") or "list_accounts"
local token = os.getenv("AUTHD_TOKEN") or ""
local path = os.getenv("AUTHD_PATH") or "/"
local label = os.getenv("AUTHD_LABEL") or ("authd " .. mode)

local threads = {}
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
  table.insert(threads, thread)
end

local auth = { ["X-Service-Token"] = token }
local json = { ["X-Service-Token"] = token, ["Content-Type"] = "application/json" }
local n = 0

request = function()
  if mode == "enroll" then
    n = n + 1
    local body = string.format(
      '{"otpauth_uri":"otpauth://totp/Peer:u%d_%d?secret=JBSWY3DPEHPK3PXP"}', tid or 0, n)
    return wrk.format("POST", path, json, body)
  elseif mode == "totp" or mode == "hotp" then
    return wrk.format("POST", path, auth)
  else
    return wrk.format("GET", path, auth)
  end
end

local expect = ({ list_accounts = "^%s*%[", totp = '"otp_code"', hotp = '"otp_code"',
                  enroll = '"id"' })[mode] or "."
bad = 0
function response(status, headers, body)
  if status >= 200 and status < 400 and not string.find(body or "", expect) then
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local b = 0
  for _, t in ipairs(threads) do b = b + (t:get("bad") or 0) end
  local e = summary.errors
  local errs = e.connect + e.read + e.write + e.status + e.timeout + b
  local secs = summary.duration / 1e6
  io.write(string.format("%s rps=%.1f p50_ms=%.3f p99_ms=%.3f errors=%d\n",
    label, summary.requests / secs, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, errs))
  io.write(string.format("# %s detail: requests=%d duration_s=%.2f connect=%d read=%d write=%d status=%d timeout=%d bad_body=%d\n",
    label, summary.requests, secs, e.connect, e.read, e.write, e.status, e.timeout, b))
end
