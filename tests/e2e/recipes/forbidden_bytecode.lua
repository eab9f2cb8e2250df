-- load() takes text only: a precompiled chunk is refused.
set_option("imap.port", "1143")
assert(string.dump == nil, "string.dump is available")
local chunk, why = load("\27LuaT\0\25\147\13\10\26\10\4\8\8", "bytecode", "b")
if chunk == nil then error(why) end
chunk()
