-- frontendLMTP: an MTA relay (or MMP/MTA front end) that delivers to
-- back-end message stores over LMTP.
--
-- What it does (the seed's frontendLMTP.rcp, 002:3017-3116, with the OCR
-- defects fixed: lmtp, tcp_lmtpcs, $4O, dequeue_removeroute):
--   * disables the store, IMAP and POP, which a relay does not run;
--   * appends the two ".lmtp" rewrite rules that route to lmtpcs-daemon,
--     unless they are already there (the seed appended them blindly);
--   * creates the LMTP client channel tcp_lmtpcs with the seed's twelve
--     options (port LMTP_PORT);
--   * replaces mta.delivery_options with the LMTP form: mailbox, native, unix
--     and file deliveries are source-routed to the store host ($X) over LMTP.
-- Run backendLMTP on each store.  The job controller of this host runs the
-- LMTP client.
--
-- Questions (answer them with -D NAME=VALUE; -y takes the defaults):
--   LMTP_PORT   port of the back ends' LMTP servers (default 225)
--
-- Running it again changes nothing.
description("frontendMTA to backend LMTP store")
keywords({"frontend", "MTA", "LMTP"})

local function port_number(v)
    local n = tonumber(v)
    return n ~= nil and n == math.floor(n) and n >= 1 and n <= 65535,
        "a port number from 1 to 65535"
end

local port = prompt("LMTP_PORT", "Port of the back ends' LMTP servers?", "225", port_number)

-- A relay runs no store.
set_option("store.enable", "0")
set_option("imap.enable", "0")
set_option("pop.enable", "0")

-- Rewrite rules: .lmtp goes to the LMTP client channel.
local rules = {
    {".lmtp", "$E$F$U%$H.lmtp@lmtpcs-daemon"},
    {".lmtp", "$B$F$U%$H@$H@lmtpcs-daemon"},
}
local present = get_rewrites()
for _, rule in ipairs(rules) do
    local found = false
    for i = 1, length(present), 2 do
        if present[i] == rule[1] and present[i + 1] == rule[2] then found = true end
    end
    if not found then append_rewrites(rule) end
end

-- The LMTP client channel (legacy form:
--   tcp_lmtpcs defragment lmtp multigate connectcanonical fileinto @$4O:$U+$S@$D
--   flagtransfer port 225 nomx single_sys pool SMTP_POOL dequeue_removeroute
--   lmtpcs-daemon)
set_option("channel:tcp_lmtpcs.connectcanonical")
set_option("channel:tcp_lmtpcs.defragment")
set_option("channel:tcp_lmtpcs.fileinto", "@$4O:$U+$S@$D")
set_option("channel:tcp_lmtpcs.flagtransfer")
set_option("channel:tcp_lmtpcs.lmtp")
set_option("channel:tcp_lmtpcs.multigate")
set_option("channel:tcp_lmtpcs.nomx")
set_option("channel:tcp_lmtpcs.pool", "SMTP_POOL")
set_option("channel:tcp_lmtpcs.port", port)
set_option("channel:tcp_lmtpcs.single_sys")
set_option("channel:tcp_lmtpcs.dequeue_removeroute")
set_option("channel:tcp_lmtpcs.official_host_name", "lmtpcs-daemon")

-- The delivery options that activate LMTP delivery to the back ends.  All
-- of them: one cannot override only the mailbox pair.  "\\" is one backslash.
set_option("mta.delivery_options",
    "#*mailbox=@$X.LMTP:$M%$\\$2I$_+$2S@lmtpcs-daemon,#&members=*,"
    .. "#*native=@$X.LMTPN:$M+$2S@native-daemon,#*unix=@$X.LMTPN:$M,"
    .. "#*file=@$X.LMTPN:+$F,#&@members_offline=*,#/hold=@hold-daemon:$A,"
    .. "#program=$M%$P@pipe-daemon,#forward=**,#*^!autoreply=$M+$D@bitbucket")
