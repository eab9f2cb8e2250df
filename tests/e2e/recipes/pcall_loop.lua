-- An endless loop that swallows every error: still stopped.
set_option("imap.port", "1143")
while true do
    pcall(function() while true do end end)
end
