-- backendLMTP: a message store that accepts LMTP from listed front ends.
--
-- What it does (the seed's backendLMTP.rcp, 002:3187-3338, with its defects
-- fixed: the service is LMTPSS, the PORT_ACCESS pattern is TCP|*|PORT|IP|*):
--   * creates the LMTP server channel tcp_lmtpss (legacy form:
--     "tcp_lmtpss lmtp flagtransfer identnonenumeric" / "tcp_lmtpss-daemon")
--     unless it exists;
--   * creates the dispatcher service LMTPSS that runs the LMTP server on
--     LMTP_PORT, unless it exists;
--   * puts at the front of the PORT_ACCESS mapping, for every front end and
--     for this host (so that msprobe here can connect), the entries
--       TCP|*|LMTP_PORT|IP|* $Y   and   TCP|*|LMTP_PORT+1|IP|* $Y
--     (the seed opens 225 and 226), skipping those already there.
--   * adds MMP_ADMIN to store.admins (unless it is listed), so that the
--     front ends' MMP can log in to this store on behalf of users
--     (docs/mmp.md "Logging in at the store"; not in the seed's recipe).
-- The back end needs no job controller: the LMTP server runs under the
-- dispatcher.
--
-- Questions (answer them with -D NAME=VALUE; -y takes the defaults):
--   MY_IP          IP address of this host (no default)
--   FRONTEND_IPS   IP addresses of the front ends, separated by commas or
--                  blanks (no default)
--   LMTP_PORT      port of the LMTP server (default 225)
--   MMP_ADMIN      store administrator the MMP logs in as (default:
--                  base.proxyadmin, else admin, the administrator that
--                  init-config --local-directory makes); empty for none
--
-- Running it again changes nothing: it only warns that everything exists.
description("backend store via LMTP")
keywords({"backend", "store", "LMTP"})

local function is_ip(v)
    local a, b, c, d = v:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
    if a then
        return tonumber(a) <= 255 and tonumber(b) <= 255 and tonumber(c) <= 255
            and tonumber(d) <= 255
    end
    return v:find(":", 1, true) ~= nil and v:match("^[%x:.]+$") ~= nil
end

local function ip_address(v)
    return is_ip(v), "an IPv4 or IPv6 address"
end

local function split(v)
    local list = {}
    for word in v:gmatch("[^%s,]+") do push(list, word) end
    return list
end

local function ip_list(v)
    local list = split(v)
    if length(list) == 0 then return false, "at least one IP address" end
    for _, ip in ipairs(list) do
        if not is_ip(ip) then return false, ip .. " is not an IP address" end
    end
    return true
end

local function port_number(v)
    local n = tonumber(v)
    return n ~= nil and n == math.floor(n) and n >= 1 and n < 65535,
        "a port number from 1 to 65534"
end

local myIP = prompt("MY_IP", "IP address of this host?", nil, ip_address)
local feIPs = split(prompt("FRONTEND_IPS",
    "IP addresses of the front ends (separated by commas)?", nil, ip_list))
local port = prompt("LMTP_PORT", "Port of the LMTP server?", "225", port_number)
local mmpAdmin = prompt("MMP_ADMIN",
    "Store administrator the front ends' MMP logs in as (empty for none)?",
    get_option("base.proxyadmin", "admin"), "[%w._@-]*")

if exists_channel("tcp_lmtpss") then
    warn("-- WARNING: tcp_lmtpss channel already exists.")
else
    print("-- INFO: Adding tcp_lmtpss channel\n")
    add_channel("tcp_lmtpss", {
        "flagtransfer", "",
        "identnonenumeric", "",
        "lmtp", "",
        "official_host_name", "tcp_lmtpss-daemon",
    })
end

if exists_group("dispatcher.service:LMTPSS") then
    warn("-- WARNING: dispatcher.service:LMTPSS group already exists")
else
    print("-- INFO: Creating dispatcher.service:LMTPSS group\n")
    add_group("dispatcher.service:LMTPSS", {
        "image", "IMTA_BIN:tcp_lmtp_server",
        "logfilename", "IMTA_LOG:tcp_lmtpss_server.log",
        "parameter", "CHANNEL=tcp_lmtpss",
        "tcp_ports", port,
        "stacksize", "2048000",
        "enable", "1",
    })
end

-- The front ends, then this host; for each, the ports last to first, each
-- entry prepended: the table ends up with this host's entries first.
local ipaddrs = {}
for _, ip in ipairs(feIPs) do push(ipaddrs, ip) end
push(ipaddrs, myIP)
local ports = {port, tostring(math.tointeger(tonumber(port)) + 1)}
for i = 1, length(ipaddrs) do
    for p = length(ports), 1, -1 do
        local tmp = "TCP|*|" .. ports[p] .. "|" .. ipaddrs[i] .. "|*"
        if exists_optlist(get_mapping("PORT_ACCESS"), tmp) then
            warn("-- WARNING: optlist for " .. tmp .. " exists in PORT_ACCESS")
        else
            print("-- INFO: Adding IP " .. ipaddrs[i] .. " port " .. ports[p]
                .. " to PORT_ACCESS mapping\n")
            prepend_mapping("PORT_ACCESS", {tmp, "$Y"})
        end
    end
end

-- The MMP's store administrator.
if mmpAdmin ~= "" then
    local admins = get_option("store.admins", "")
    local listed = false
    for word in admins:gmatch("%S+") do
        if word == mmpAdmin then listed = true end
    end
    if listed then
        warn("-- WARNING: " .. mmpAdmin .. " is already in store.admins")
    else
        print("-- INFO: Adding " .. mmpAdmin .. " to store.admins\n")
        set_option("store.admins", admins == "" and mmpAdmin or admins .. " " .. mmpAdmin)
    end
end
