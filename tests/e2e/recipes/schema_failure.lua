-- A channel name with a control character: config.xml could not hold it, so
-- the name is refused where the recipe gives it, and nothing is written
-- (the final schema check before the commit is the second line of defence).
set_option("imap.port", "1143")
add_channel("bad\1name", {"lmtp", ""})
