-- MMPFrontEnd: make this host a Messaging Multiplexor (MMP) front end.
--
-- What it does (seed 002:1965-2338): enables the MMP and gives it the IMAP,
-- POP and (optionally) submission ports, on a host that runs no store:
--   * mmp.enable = 1;
--   * store.enable, imap.enable, imap.enablesslport, pop.enable,
--     pop.enablesslport, http.enable, http.enablesslport = 0 (the proxies
--     take the IMAP and POP ports);
--   * imapproxy.tcp_listen:imapproxy1.tcp_ports = IMAP_PORTS,
--     popproxy.tcp_listen:popproxy1.tcp_ports = POP_PORTS, and when
--     SUBMIT_PORTS is not empty submitproxy.tcp_listen:submitproxy1.tcp_ports;
--   * imapproxy.defaultdomain, popproxy.defaultdomain (and
--     submitproxy.defaultdomain) = DEFAULT_DOMAIN, the domain of users who
--     log in without one.
-- Users are routed to their store by their mailHost in the directory.
--
-- Questions (answer them with -D NAME=VALUE; -y takes the defaults):
--   IMAP_PORTS       ports of the IMAP proxy (default: the listener's
--                    current ports, else 143)
--   POP_PORTS        ports of the POP proxy (default: current, else 110)
--   SUBMIT_PORTS     ports of the submission proxy, empty for none
--                    (default: current, else none)
--   DEFAULT_DOMAIN   default domain (default: defaultdomain())
--
-- Running it again changes nothing.
description("Messaging Multiplexor front end for IMAP, POP and submission")
keywords({"MMP", "frontend", "proxy"})

local function ports(empty_ok)
    return function(v)
        if v == "" then return empty_ok, "at least one port" end
        for word in v:gmatch("%S+") do
            local n = tonumber(word)
            if n == nil or n ~= math.floor(n) or n < 1 or n > 65535 then
                return false, word .. " is not a port number from 1 to 65535"
            end
        end
        return true
    end
end

local imap = prompt("IMAP_PORTS", "Ports of the IMAP proxy?",
    get_option("imapproxy.tcp_listen:imapproxy1.tcp_ports", "143"), ports(false))
local pop = prompt("POP_PORTS", "Ports of the POP proxy?",
    get_option("popproxy.tcp_listen:popproxy1.tcp_ports", "110"), ports(false))
local submit = prompt("SUBMIT_PORTS", "Ports of the submission proxy (empty for none)?",
    get_option("submitproxy.tcp_listen:submitproxy1.tcp_ports", ""), ports(true))
local domain = prompt("DEFAULT_DOMAIN", "Default domain of users?",
    defaultdomain(), "[%w][%w.-]*")

for _, option in ipairs({"store.enable", "imap.enable", "imap.enablesslport",
                         "pop.enable", "pop.enablesslport",
                         "http.enable", "http.enablesslport"}) do
    set_option(option, "0")
end
set_option("mmp.enable", "1")

set_option("imapproxy.tcp_listen:imapproxy1.tcp_ports", imap)
set_option("imapproxy.defaultdomain", domain)
set_option("popproxy.tcp_listen:popproxy1.tcp_ports", pop)
set_option("popproxy.defaultdomain", domain)
if submit ~= "" then
    set_option("submitproxy.tcp_listen:submitproxy1.tcp_ports", submit)
    set_option("submitproxy.defaultdomain", domain)
end
