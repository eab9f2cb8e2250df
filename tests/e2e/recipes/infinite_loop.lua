-- Never ends: stopped by the instruction limit.
set_option("imap.port", "1143")
local n = 0
while true do n = n + 1 end
