-- A stand-in for prosody-modules' mod_auth_external_insecure, used by tests/e2e/run_prosody.py
-- only when the real module is not installed. Debian bookworm ships neither that module (its
-- prosody-modules package leaves it out) nor lpty for Lua 5.4 (lua-lpty is built for 5.1 and
-- 5.2; tests/e2e/prosody/install-lpty.sh builds it for 5.4 from Debian's own source).
--
-- Written for this test from the behaviour ../shared/PROTOCOLS.md section 4 records for the
-- real module, which is exactly what makes a pseudo-terminal dangerous for the helper:
--   * the helper runs under lpty with local echo switched off in the child after fork (so the
--     first request may be echoed back), no PATH search and no arguments;
--   * one helper, blocking: write the request, then ONE read of up to 4096 bytes with
--     external_auth_timeout; on a timeout the same process is kept, so a late reply becomes
--     the answer to the next request;
--   * the answer is that chunk less one trailing \r?\n and must be exactly "0" or "1";
--   * the helper is restarted only after it exited with status 0.
-- Same option names as the real module: external_auth_command, external_auth_timeout,
-- external_auth_protocol (generic only here).

local lpty = require "lpty";
local usermanager = require "core.usermanager";
local new_sasl = require "util.sasl".new;

local host = module.host;
local command = module:get_option_string("external_auth_command", "");
local timeout = module:get_option_number("external_auth_timeout", 5);
assert(module:get_option_string("external_auth_protocol", "generic") == "generic",
	"the stand-in speaks external_auth_protocol = \"generic\" only");

local pty = lpty.new({ throw_errors = false, no_local_echo = true, use_path = false });

local function stop() pty:endproc(); end
module.unload = stop;
module:hook_global("server-cleanup", stop);

local function exchange(line)
	if not pty:hasproc() then
		local how, code = pty:exitstatus();
		if how and not (how == "exit" and code == 0) then
			module:log("warn", "Auth process exited unexpectedly with %s %d, not restarted", how, code or 0);
			return nil;
		end
		local ok, err = pty:startproc(command);
		if not ok then
			module:log("error", "Failed to start auth process '%s': %s", command, tostring(err));
			return nil;
		end
		module:log("debug", "Started auth process");
	end
	pty:send(line);
	return pty:read(timeout);
end

local function query(kind, username, password)
	if not username then return nil, "not-acceptable"; end
	local line = kind .. ":" .. username .. ":" .. host;
	if password then line = line .. ":" .. password; end
	if #line > 1000 then return nil, "policy-violation"; end
	local reply = exchange(line .. "\n");
	if not reply then
		module:log("warn", "Error while waiting for result from auth process: no reply within %s s", tostring(timeout));
		return nil, "internal-server-error";
	end
	local answer = (reply:gsub("\r?\n$", ""));
	if answer == "1" then return true; end
	if answer == "0" then return nil, "not-authorized"; end
	module:log("warn", "Unable to interpret data from auth process, [%d bytes]", #reply);
	return nil, "internal-server-error";
end

local provider = {};

function provider.test_password(username, password) return query("auth", username, password); end
function provider.set_password(username, password) return query("setpass", username, password); end
function provider.user_exists(username) return query("isuser", username); end
function provider.create_user() return nil, "Account creation/modification not available."; end

function provider.get_sasl_handler()
	return new_sasl(host, {
		plain_test = function(_sasl, username, password, realm)
			return usermanager.test_password(username, realm, password), true;
		end,
	});
end

module:provides("auth", provider);
