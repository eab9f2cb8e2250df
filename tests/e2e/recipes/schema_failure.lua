-- A channel name with a control character: every option is accepted one by
-- one, but the resulting config.xml would not parse again, so the final
-- check before the commit refuses it.
set_option("imap.port", "1143")
add_channel("bad\1name", {"lmtp", ""})
