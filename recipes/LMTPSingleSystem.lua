-- LMTPSingleSystem: LMTP delivery on a single system.
--
-- What it does.  The MTA on this host delivers to the message store on the
-- same host over LMTP, the set-up the seed ships as LMTPSingleSystem.rcp for
-- evaluation and testing (seed 002, "Configuring LMTP").  It
--   * creates the LMTP client channel tcp_lmtpcs, which the MTA uses to hand
--     store deliveries to the LMTP server (the front-end half);
--   * creates the LMTP server channel tcp_lmtpss and the dispatcher service
--     LMTPSS that runs the LMTP server on LMTP_PORT, listening on the loopback
--     address only (the back-end half);
--   * appends the two ".lmtp" rewrite rules that route to tcp_lmtpcs;
--   * replaces mta.delivery_options with the LMTP form (delivery options are
--     set as a whole or not at all);
--   * lets 127.0.0.1 connect to the LMTP port in the PORT_ACCESS mapping.
-- The store, IMAP and POP stay enabled.
--
-- Questions (answer them with -D NAME=VALUE; -y takes the defaults):
--   LMTP_PORT   port of the LMTP server (default 225)
--
-- Running it again changes nothing.
description("LMTP delivery from the MTA to the message store on the same host")
keywords({"LMTP", "single system", "evaluation"})

local function port_number(v)
    local n = tonumber(v)
    return n ~= nil and n == math.floor(n) and n >= 1 and n <= 65535,
        "a port number from 1 to 65535"
end

local port = prompt("LMTP_PORT", "Port of the LMTP server?", "225", port_number)

-- The LMTP client channel (the seed's frontendLMTP.rcp, OCR defects fixed).
add_channel("tcp_lmtpcs", {
    "connectcanonical", "",
    "defragment", "",
    "fileinto", "@$4O:$U+$S@$D",
    "flagtransfer", "",
    "lmtp", "",
    "multigate", "",
    "nomx", "",
    "pool", "SMTP_POOL",
    "port", port,
    "single_sys", "",
    "dequeue_removeroute", "",
    "official_host_name", "lmtpcs-daemon",
})

-- The LMTP server channel and its dispatcher service (backendLMTP.rcp).
add_channel("tcp_lmtpss", {
    "flagtransfer", "",
    "identnonenumeric", "",
    "lmtp", "",
    "official_host_name", "tcp_lmtpss-daemon",
})
add_group("dispatcher.service:LMTPSS", {
    "image", "IMTA_BIN:tcp_lmtp_server",
    "logfilename", "IMTA_LOG:tcp_lmtpss_server.log",
    "parameter", "CHANNEL=tcp_lmtpss",
    "tcp_ports", port,
    "interface_address", "127.0.0.1",
    "stacksize", "2048000",
    "enable", "1",
})

-- Route store deliveries to the LMTP client channel.
append_rewrites({".lmtp", "$E$F$U%$H.lmtp@lmtpcs-daemon"})
append_rewrites({".lmtp", "$B$F$U%$H@$H@lmtpcs-daemon"})
set_option("mta.delivery_options",
    "#*mailbox=@$X.LMTP:$M%$\\$2I$_+$2S@lmtpcs-daemon,#&members=*,"
    .. "#*native=@$X.LMTPN:$M+$2S@native-daemon,#*unix=@$X.LMTPN:$M,"
    .. "#*file=@$X.LMTPN:+$F,#&@members_offline=*,#/hold=@hold-daemon:$A,"
    .. "#program=$M%$P@pipe-daemon,#forward=**,#*^!autoreply=$M+$D@bitbucket")

-- Only this host may connect to the LMTP server.
local entry = "TCP|*|" .. port .. "|127.0.0.1|*"
if not exists_optlist(get_mapping("PORT_ACCESS"), entry) then
    prepend_mapping("PORT_ACCESS", {entry, "$Y"})
end

print("-- INFO: LMTP from the MTA to the local store on port ", port, "\n")
