-- No debug library in the sandbox.
set_option("imap.port", "1143")
debug.sethook()
