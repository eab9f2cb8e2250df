-- No dofile or loadfile in the sandbox.
set_option("imap.port", "1143")
dofile("/etc/passwd")
