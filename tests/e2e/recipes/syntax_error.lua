-- A syntax error on line 4: nothing runs, nothing is written.
set_option("imap.port", "1143")
set_option("pop.port", "1110")
if exists_channel("tcp_local") then set_option("imap.enable", "0")
