-- dirconn.lua: a Dovecot 2.3.19+ Lua passdb and userdb that asks dirconn's HTTP API.
--
-- Needs the packages dovecot-auth-lua (Lua 5.4) and lua-cjson. Configure it with
-- integrations/dovecot/dovecot-dirconn.conf: `passdb { driver = lua; args = file=THIS blocking=yes }`
-- (blocking=yes runs the script in auth-worker processes: an HTTP call from the main auth process would
-- hold up every other login while it waits).
--
-- Settings come from the environment, because Dovecot 2.3 refuses any passdb/userdb `args` key other
-- than file, blocking, cache_key and scheme ("Fatal: Unsupported parameter"), and calls script_init()
-- with no arguments. Hand them over with `import_environment = $import_environment KEY=VALUE ...`:
--   DIRCONN_API_URL        the service's base URL, e.g. http://127.0.0.1:8025 (required; use an IP
--                          address: Dovecot's HTTP client resolves host names through its dns-client
--                          service, which auth workers may not reach)
--   DIRCONN_TOKEN_FILE     a file holding the bearer token (required; read at start, and again while it
--                          cannot be read; the token is never logged)
--   DIRCONN_TIMEOUT_MSECS  the longest one call may take, retries included (default 5000)
--   DIRCONN_CONNECT_TIMEOUT_MSECS  TCP connect timeout (default 1000)
--   DIRCONN_IDLE_MSECS     how long an idle keep-alive connection is kept (default 30000)
--
-- Results: the API's 200 is a login (`user` becomes the canonical account, userdb fields come back as
-- userdb_*, for `userdb prefetch`); its 401 is a refusal (not-found: USER_UNKNOWN, account-disabled and
-- account-expired: USER_DISABLED, password-expired and must-change-password: PASS_EXPIRED, which IMAP clients
-- see as `NO [EXPIRED]`; anything else: PASSWORD_MISMATCH), except DC-810 (the service refused the token
-- itself). Every other answer, a 503, a timeout or an unreachable service is
-- INTERNAL_FAILURE: Dovecot tells the client to try again later, and never counts it as a wrong password.
--
-- Dovecot's HTTP client sends every request that has a body with `Expect: 100-continue` and holds the body
-- until the server answers `100 Continue` (measured, Dovecot 2.3.19): dirconn serve does, as soon as it
-- reads the body (a request refused before that, e.g. for its token, gets its final answer at once). A
-- server that never does costs the first POST of each auth-worker process 2 s; Dovecot then sends the body
-- anyway and never sends `Expect` to that server again from that process.

local json = require("cjson")

local auth = dovecot.auth

local config = nil -- filled by script_init
local token = nil -- the bearer token, once read
local client = nil -- the keep-alive HTTP client, created on first use

local function setting(name, default)
  local value = os.getenv(name)
  if value == nil or value == "" then
    return default
  end
  return value
end

local function number_setting(name, default)
  local raw = setting(name, nil)
  if raw == nil then
    return default
  end
  local n = tonumber(raw)
  if n == nil or n < 1 or n ~= math.floor(n) then
    error(string.format("dirconn.lua: %s must be a positive whole number of milliseconds, not %q", name, raw))
  end
  return math.tointeger(n)
end

-- Reads the token file; returns the token, or nil and a reason (which never holds the token).
local function read_token(path)
  local file, err = io.open(path, "r")
  if file == nil then
    return nil, string.format("cannot read the token file %s (DIRCONN_TOKEN_FILE): %s", path, err)
  end
  local content = file:read("a") or ""
  file:close()
  local trimmed = content:match("^%s*(.-)%s*$")
  if trimmed == "" then
    return nil, string.format("the token file %s (DIRCONN_TOKEN_FILE) is empty", path)
  end
  if trimmed:find("[%c ]") then
    return nil, string.format("the token file %s (DIRCONN_TOKEN_FILE) holds more than one line or word", path)
  end
  return trimmed
end

function script_init()
  local url = setting("DIRCONN_API_URL", nil)
  if url == nil then
    error("dirconn.lua: DIRCONN_API_URL is not set; add it to import_environment, e.g. "
      .. "import_environment = $import_environment DIRCONN_API_URL=http://127.0.0.1:8025")
  end
  if not url:match("^https?://[^/]+") then
    error(string.format("dirconn.lua: DIRCONN_API_URL must be an http:// or https:// URL, not %q", url))
  end
  local token_file = setting("DIRCONN_TOKEN_FILE", nil)
  if token_file == nil then
    error("dirconn.lua: DIRCONN_TOKEN_FILE is not set; add it to import_environment")
  end
  local timeout = number_setting("DIRCONN_TIMEOUT_MSECS", 5000)
  config = {
    url = url:gsub("/+$", ""),
    token_file = token_file,
    timeout = timeout,
    connect_timeout = math.min(number_setting("DIRCONN_CONNECT_TIMEOUT_MSECS", 1000), timeout),
    idle = number_setting("DIRCONN_IDLE_MSECS", 30000),
  }
  local err
  token, err = read_token(token_file)
  if token == nil then
    -- Not fatal: the file may appear later (each request tries again, and fails as a temporary error).
    dovecot.i_warning("dirconn.lua: " .. err)
  end
  return 0
end

local function http()
  if client == nil then
    client = dovecot.http.client({
      user_agent = "dirconn-dovecot-lua/1",
      request_timeout_msecs = config.timeout,
      request_absolute_timeout_msecs = config.timeout,
      connect_timeout_msecs = config.connect_timeout,
      -- One retry, for a keep-alive connection the service closed while it was idle.
      max_attempts = 2,
      max_idle_time_msecs = config.idle,
    })
  end
  return client
end

-- Percent-encodes everything but RFC 3986 unreserved characters (for one path segment). Dovecot's HTTP
-- client re-normalises the path: "@" and the other characters legal in a segment go out decoded.
local function escape_segment(s)
  return (s:gsub("[^%w%-%._~]", function(c)
    return string.format("%%%02X", string.byte(c))
  end))
end

-- One API call. Returns the HTTP status (Dovecot's client reports transport failures as 9000 and up),
-- the decoded JSON body (or nil) and a short description for logs; or nil and the reason.
local function call(method, path, body)
  if token == nil then
    local err
    token, err = read_token(config.token_file)
    if token == nil then
      return nil, err
    end
  end
  local request = http():request({ url = config.url .. path, method = method })
  request:add_header("Authorization", "Bearer " .. token)
  request:add_header("Accept", "application/json")
  if body ~= nil then
    request:add_header("Content-Type", "application/json")
    request:set_payload(json.encode(body))
  end
  local response = request:submit()
  local status = response:status()
  local payload = response:payload()
  local decoded = nil
  if payload ~= nil and payload ~= "" then
    local ok, value = pcall(json.decode, payload)
    if ok and type(value) == "table" then
      decoded = value
    end
  end
  local what = string.format("%s %s: %d %s", method, path, status, response:reason() or "")
  return status, decoded, what
end

-- "code kind: message" of an error body, for logs.
local function describe(body)
  if type(body) ~= "table" then
    return "no error body"
  end
  return string.format("%s %s: %s", tostring(body.code), tostring(body.kind), tostring(body.message))
end

local function optional_ip(value)
  if value == nil or value == "" then
    return json.null
  end
  return value
end

-- Copies string userdb fields with plain names (home, uid, gid, quota_rule...) into `out`.
local function copy_userdb(userdb, out, prefix)
  if type(userdb) ~= "table" then
    return
  end
  for key, value in pairs(userdb) do
    if type(key) == "string" and key:match("^[%w_]+$") and (type(value) == "string" or type(value) == "number") then
      out[prefix .. key] = tostring(value)
    end
  end
end

local refusals = {
  ["not-found"] = auth.PASSDB_RESULT_USER_UNKNOWN,
  ["account-disabled"] = auth.PASSDB_RESULT_USER_DISABLED,
  ["account-expired"] = auth.PASSDB_RESULT_USER_DISABLED,
  ["password-expired"] = auth.PASSDB_RESULT_PASS_EXPIRED,
  ["must-change-password"] = auth.PASSDB_RESULT_PASS_EXPIRED,
}

function auth_password_verify(req, pass)
  local secured = req.secured ~= nil and req.secured ~= ""
  local status, body, what = call("POST", "/v1/auth", {
    login = req.user,
    password = pass,
    service = req.service,
    client_ip = optional_ip(req.rip),
    local_ip = optional_ip(req.lip),
    secured = secured,
  })
  if status == nil then
    return auth.PASSDB_RESULT_INTERNAL_FAILURE, "dirconn: " .. body
  end
  if status == 200 and body ~= nil and body.ok == true and type(body.account) == "string" and body.account ~= "" then
    local fields = { user = body.account }
    copy_userdb(body.userdb, fields, "userdb_")
    return auth.PASSDB_RESULT_OK, fields
  end
  if status == 401 and body ~= nil and body.code == "DC-810" then
    -- The service refused our token, not the user's password: every login would fail alike.
    return auth.PASSDB_RESULT_INTERNAL_FAILURE,
      "dirconn: the service refused the API token (DIRCONN_TOKEN_FILE): " .. describe(body)
  end
  if status == 401 and body ~= nil then
    return refusals[body.kind] or auth.PASSDB_RESULT_PASSWORD_MISMATCH, "dirconn: " .. describe(body)
  end
  return auth.PASSDB_RESULT_INTERNAL_FAILURE, string.format("dirconn: %s (%s)", what, describe(body))
end

function auth_userdb_lookup(req)
  if req.user:find("/", 1, true) then
    -- Dovecot's HTTP client decodes %2F back into "/" (and %40 into "@") before sending the path.
    return auth.USERDB_RESULT_INTERNAL_FAILURE,
      "dirconn: a user name holding '/' cannot be looked up through GET /v1/users/{user}"
  end
  local status, body, what = call("GET", "/v1/users/" .. escape_segment(req.user), nil)
  if status == nil then
    return auth.USERDB_RESULT_INTERNAL_FAILURE, "dirconn: " .. body
  end
  if status == 200 and body ~= nil and type(body.account) == "string" and body.account ~= "" then
    local fields = { user = body.account }
    copy_userdb(body.userdb, fields, "")
    return auth.USERDB_RESULT_OK, fields
  end
  -- Only dirconn's own "no such account" is an unknown user; a 404 without its body, or DC-816 (no such
  -- route: DIRCONN_API_URL has a wrong path), is a configuration error and must defer mail, not bounce it.
  if status == 404 and type(body) == "table" and body.ok == false and type(body.code) == "string"
    and body.code ~= "DC-816" then
    return auth.USERDB_RESULT_USER_UNKNOWN, "dirconn: " .. describe(body)
  end
  return auth.USERDB_RESULT_INTERNAL_FAILURE, string.format("dirconn: %s (%s)", what, describe(body))
end
