-- No io library in the sandbox.
set_option("imap.port", "1143")
io.open("/etc/passwd"):read("a")
