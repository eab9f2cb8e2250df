-- Asks two questions and sets what the answers say.
local port = prompt("IMAP_PORT", "IMAP port?", "1143", "%d+")
local banner = read("Banner: ")
set_option("imap.port", port)
if banner ~= "" then set_option("imap.banner", banner) end
print("port ", port, "\n")
