-- Grows without bound: stopped by the memory limit.
set_option("imap.port", "1143")
local t = {}
local s = "x"
for i = 1, 100000000 do
    s = s .. s
    t[i] = s
end
