-- A runtime error on line 5, after a change that must not be kept.
set_option("imap.port", "1143")
add_channel("tcp_runtime", {"lmtp", ""})
local settings = nil
print(settings.port)
