-- set_option with a value msconfig refuses (a port that is not a number).
set_option("pop.port", "1110")
set_option("imap.port", "not-a-port")
