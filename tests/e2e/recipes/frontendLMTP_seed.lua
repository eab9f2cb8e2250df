-- -*- mode: lua; -*-   (the seed: mode: sieve)
-- The seed's frontendLMTP.rcp (002:3017-3116) translated to Lua line by
-- line, with the OCR defects D1-D6 of the spec fixed: .lmtp, tcp_lmtpcs,
-- lmtpcs-daemon and option lmtp (not lmtpl), $4O (letter O), and
-- dequeue_removeroute; the delivery options are one literal.
description("frontendMTA to backend LMTP store");
keywords({"frontend", "MTA", "LMTP"});
--
-- Sample recipe for a frontend MMP/MTA to a backend LMTP store
-- the corresponding recipe for the backend store/LMTP is backendLMTP.rcp
--
-- constants - supplied input
--
-- my IP address
myIP = "10.133.158.10";
-- network portion of IP address in number of bits
myNetmaskbits = "8";

--
-- configure LMTP frontend
--

--
-- disable store
--
set_option("store.enable", "0");
set_option("imap.enable", "0");
set_option("pop.enable", "0");

--
-- add to rewrite rules
-- .lmtp $E$F$U%H.lmtp@lmtpcs-daemon
-- .lmtp $B$F$U%H@H@lmtpcs-daemon
--
-- should really check to see if the rewrite rule exists instead
-- of unilaterally appending it
--
append_rewrites({".lmtp", "$E$F$U%H.lmtp@lmtpcs-daemon"});
append_rewrites({".lmtp", "$B$F$U%H@H@lmtpcs-daemon"});

--
-- add channel tcp_lmtpcs
-- ,----
-- | tcp_lmtpcs defragment lmtp multigate connectcanonical fileinto @$4O:$U+$S@$D flagtransfer multigate connectcanonical port 225 nomx single_sys pool SMTP_POOL dequeue_removeroute
-- | lmtpcs-daemon
-- `----
--
set_option("channel:tcp_lmtpcs.connectcanonical");
set_option("channel:tcp_lmtpcs.defragment");
set_option("channel:tcp_lmtpcs.fileinto", "@$4O:$U+$S@$D");
set_option("channel:tcp_lmtpcs.flagtransfer");
set_option("channel:tcp_lmtpcs.lmtp");
set_option("channel:tcp_lmtpcs.multigate");
set_option("channel:tcp_lmtpcs.nomx");
set_option("channel:tcp_lmtpcs.pool", "SMTP_POOL");
set_option("channel:tcp_lmtpcs.port", "225");
set_option("channel:tcp_lmtpcs.single_sys");
set_option("channel:tcp_lmtpcs.dequeue_removeroute");
set_option("channel:tcp_lmtpcs.official_host_name", "lmtpcs-daemon");

--
-- ! The modified DELIVERY_OPTIONS which activate LMTP
-- ! delivery from a frontend relay to the backend
--
-- NOTE NOTE NOTE - have to escape the backslash in the "mailbox=..."
set_option("mta.delivery_options", "#*mailbox=@$X.LMTP:$M%$\\$2I$_+$2S@lmtpcs-daemon,#&members=*,#*native=@$X.LMTPN:$M+$2S@native-daemon,#*unix=@$X.LMTPN:$M,#*file=@$X.LMTPN:+$F,#&@members_offline=*,#/hold=@hold-daemon:$A,#program=$M%$P@pipe-daemon,#forward=**,#*^!autoreply=$M+$D@bitbucket");

--
write("use \"write -remark frontendLMTP.rcp\" to write out the changes\n");
