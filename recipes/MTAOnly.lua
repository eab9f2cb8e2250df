-- MTAOnly: run this host as an MTA only (no message store).
--
-- What it does (seed 002:1540-1568, "MTA-only mode"): disables the message
-- store and the servers that need it, plain and SSL ports alike:
--   store.enable, imap.enable, imap.enablesslport, pop.enable,
--   pop.enablesslport, http.enable, http.enablesslport  -> 0
-- and, unless told not to, the scheduled tasks that act on the store
-- (expire, snapshot, snapshotverify, purge), as the seed advises before
-- starting an MTA-only system.  The watcher, the scheduler, ENS, the
-- dispatcher and the job controller keep running.
--
-- Questions (answer them with -D NAME=VALUE; -y takes the defaults):
--   DISABLE_STORE_TASKS   disable the store's scheduled tasks? yes or no
--                         (default yes)
--
-- Running it again changes nothing.
description("MTA only: message store, IMAP, POP and webmail disabled")
keywords({"MTA", "MTA-only"})

local disable_tasks = prompt("DISABLE_STORE_TASKS",
    "Disable the store's scheduled tasks (expire, snapshot, snapshotverify, purge)?",
    "yes", function(v)
        local a = v:lower()
        return a == "yes" or a == "y" or a == "no" or a == "n", "yes or no"
    end)

for _, option in ipairs({"store.enable", "imap.enable", "imap.enablesslport",
                         "pop.enable", "pop.enablesslport",
                         "http.enable", "http.enablesslport"}) do
    set_option(option, "0")
end

if disable_tasks:lower():sub(1, 1) == "y" then
    for _, task in ipairs({"expire", "snapshot", "snapshotverify", "purge"}) do
        if exists_group("schedule.task:" .. task) then
            set_option("schedule.task:" .. task .. ".enable", "0")
        end
    end
end
