-- error() aborts the recipe: the change before it is not kept.
set_option("imap.port", "1143")
error("the recipe gives up on purpose")
