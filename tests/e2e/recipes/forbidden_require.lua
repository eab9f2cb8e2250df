-- No require (and no package library) in the sandbox.
set_option("imap.port", "1143")
local lfs = require("lfs")
