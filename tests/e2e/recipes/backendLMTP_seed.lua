-- -*- mode: lua; -*-   (the seed: mode: sieve)
-- The seed's backendLMTP.rcp (002:3187-3338) translated to Lua line by
-- line, with the defects of the spec fixed: D6-D8 (page breaks, the extra
-- brace, wrapped literals), D9 (the service is LMTPSS, as its comment
-- says), D10 (the pattern is "TCP|*|" .. port, with the missing "|") and
-- D11 ([feIPs] is the list itself, §11 Q7).  loop/exitif become while
-- true/break, "+" and "." on strings become "..", p--/i++ are spelled out.
description("backend store via LMTP");
keywords({"backend", "store", "LMTP"});
--
-- Sample recipe for a backend store via LMTP
-- the corresponding recipe for the frontend MMP/MTA is frontendLMTP.rcp
--
-- constants - supplied input
-- if you leave it blank, the script will prompt for it
-- sample entry
--myIP = "10.133.152.193";
myIP = "";

--
-- list of frontend machines that access this store via LMTP
-- if you leave it blank, the script will prompt for it
-- sample entry:
--feIPs = {"10.133.152.192", "10.133.152.193"};
feIPs = {};

--
-- prompt for myIP and feIP if needed

if (length(myIP) <= 0) then
    myIP = read("Enter the IP address of this host: ");
end

if (length(feIPs) <= 0) then
    while true do
        ip = read("Enter the IP address of a frontend machine (<RET> if no more): ");
        if (ip == "") then break end
        push(feIPs, ip);
    end
end

--
-- configure LMTP backend

--
-- create tcp_lmtpss channel. In legacy config, this would show up as:
-- tcp_lmtpss lmtp flagtransfer identnonenumeric
-- tcp_lmtpss-daemon
if exists_channel("tcp_lmtpss") then
    warn("-- WARNING: tcp_lmtpss channel already exists.");
else
    -- This creates the channel by using individual options
    --set_option("channel:tcp_lmtpss.flagtransfer");
    --set_option("channel:tcp_lmtpss.identnonenumeric");
    --set_option("channel:tcp_lmtpss.lmtp");
    --set_option("channel:tcp_lmtpss.official_host_name", "tcp_lmtpss-daemon");
    -- an alternative way of doing it as a one-liner
    print("-- INFO: Adding tcp_lmtpss channel\n");
    add_channel("tcp_lmtpss",
        {"flagtransfer", "",
        "identnonenumeric", "",
        "lmtp", "",
        "official_host_name", "tcp_lmtpss-daemon"});
end

--
-- dispatcher.cnf
-- uncomment [SERVICE=LMTPSS] block
--
if exists_group("dispatcher.service:LMTPSS") then
    warn("-- WARNING: dispatcher.service:LMTPSS group already exists");
else
    print("-- INFO: Creating dispatcher.service:LMTPSS group\n");
    -- This creates the group by using individual options
    --set_option("dispatcher.service:LMTPSS.image", "IMTA_BIN:tcp_lmtp_server");
    --set_option("dispatcher.service:LMTPSS.logfilename", "IMTA_LOG:tcp_lmtpss_server.log");
    --set_option("dispatcher.service:LMTPSS.parameter", "CHANNEL=tcp_lmtpss");
    --set_option("dispatcher.service:LMTPSS.tcp_ports", "225");
    --set_option("dispatcher.service:LMTPSS.stacksize", "2048000");
    --set_option("dispatcher.service:LMTPSS.enable", "1");

    -- alternate way of doing this in one line
    add_group("dispatcher.service:LMTPSS",
        {"image", "IMTA_BIN:tcp_lmtp_server",
         "logfilename", "IMTA_LOG:tcp_lmtpss_server.log",
         "parameter", "CHANNEL=tcp_lmtpss",
         "tcp_ports", "225",
         "stacksize", "2048000",
         "enable", "1"});
end

--
-- add PORT_ACCESS mapping entries
--
-- allow frontends (feIPs) to access LMTP port
-- TCP|*|225|10.133.152.192|* $Y
-- TCP|*|226|10.133.152.192|* $Y
--
-- ! Allow 'msprobe' on this host (myIP) to connect to the LMTP ports
-- !
-- TCP|*|225|10.133.152.193|* $Y
-- TCP|*|226|10.133.152.193|* $Y

portAccess_optlist = get_mapping("PORT_ACCESS");
--print ("\n -- DEBUG optlist for PORT_ACCESS" .. portAccess_optlist .. "\n");

-- list of IP addresses
ipaddrs = feIPs;
push(ipaddrs, myIP);
numips = length(ipaddrs);
ports = {"225", "226"};
numports = length(ports);

i = 1;
while true do
    --loop over all ipaddrs
    p = numports;
    while true do
        tmp = "TCP|*|" .. ports[p] .. "|" .. ipaddrs[i] .. "|*";
        if exists_optlist(get_mapping("PORT_ACCESS"), tmp) then
            warn ( "-- WARNING: optlist for " .. tmp .. " exists in PORT_ACCESS");
        else
            print("-- INFO: Adding IP " .. ipaddrs[i] .. " port " .. ports[p] .. " to PORT_ACCESS mapping\n");
            prepend_mapping("PORT_ACCESS", {tmp, "$Y"});
        end
        if (p==1) then break end
        p = p - 1;
    end
    if (i==numips) then break end
    i = i + 1;
end

--
write("use \"write -remark backendLMTP.rcp\" to write out the changes\n");
