-- The aqe language server for `vim.lsp.enable("aqe")` (Neovim 0.11+) without calling setup():
-- `aqe serve` from the PATH, the workspace treated as trusted, aqe's :Aqe* commands and bounded
-- restarts after a crash. Override any field with vim.lsp.config("aqe", { ... }).
local aqe = require("aqe")
aqe.define_commands()
return aqe.config()
