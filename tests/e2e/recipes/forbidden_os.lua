-- No os library in the sandbox.
set_option("imap.port", "1143")
os.execute("touch /tmp/recipe-escaped")
