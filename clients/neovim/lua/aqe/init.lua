--- aqe for Neovim: starts `aqe serve`, adds aqe's commands, restarts a crashed server a bounded number of
--- times, and keeps the server's `aqe/status` for a statusline.
---
---   require("aqe").setup({ settings = { maxComplexity = 12 } })
---
--- Neovim 0.11+ registers the server with vim.lsp.config / vim.lsp.enable; 0.10 starts it with
--- vim.lsp.start from a FileType autocommand. Diagnostics, code actions (vim.lsp.buf.code_action) and
--- progress ($/progress through Neovim's own handler, see vim.lsp.status()) are Neovim's standard ones.
local M = {}

M.name = "aqe"
M.filetypes = { "python", "javascript", "javascriptreact", "typescript", "typescriptreact" }
M.root_markers = { "pyproject.toml", "package.json", "setup.cfg", ".git" }
M.max_restarts = 3
M.restart_window_s = 180

M.server_commands = {
  generate_test = "aqe.generateTest",
  reindex = "aqe.reindex",
  related_tests = "aqe.findRelatedTests",
  learned = "aqe.showLearned",
  reset_learned = "aqe.resetLearned",
  export_state = "aqe.exportState",
  import_state = "aqe.importState",
  audit = "aqe.privacyAudit",
}

local has_011 = vim.fn.has("nvim-0.11") == 1

local function notify(message, level)
  vim.notify("aqe: " .. message, level or vim.log.levels.INFO)
end

--- The words every aqe client uses for a command the running server lacks.
function M.not_provided_message(server_command)
  return ("This aqe server does not provide %s yet. Update aqe to use this command."):format(server_command)
end

-- Status -------------------------------------------------------------------------------------------

local statuses = {}

--- A short description of the model and privacy mode, for a statusline: "aqe: model ready, strict".
function M.status()
  for _, client in ipairs(vim.lsp.get_clients({ name = M.name })) do
    local status = statuses[client.id]
    if status then
      local text = "aqe: model " .. tostring(status.model)
      if status.privacyMode then
        text = text .. ", " .. status.privacyMode
      end
      if type(status.sandbox) == "table" and status.sandbox.contained == false then
        text = text .. ", sandbox NOT contained"
      end
      if status.error and status.error ~= vim.NIL then
        text = text .. " (" .. status.error .. ")"
      end
      return text
    end
    return "aqe: starting"
  end
  return ""
end

local function on_status(_, result, ctx)
  statuses[ctx.client_id] = result
  vim.api.nvim_exec_autocmds("User", { pattern = "AqeStatus", modeline = false })
end

-- Restarts -----------------------------------------------------------------------------------------

local crashes = {}
local start_config -- the config the last start used, for restarts
local stopping_on_purpose = false

--- Records a crash now; the 1-based restart number, or nil once the budget is spent.
function M._record_crash(now)
  local recent = {}
  for _, time in ipairs(crashes) do
    if now - time < M.restart_window_s then
      table.insert(recent, time)
    end
  end
  table.insert(recent, now)
  crashes = recent
  if #recent <= M.max_restarts then
    return #recent
  end
  return nil
end

local function start_for_buffers(config, buffers)
  for _, bufnr in ipairs(buffers) do
    if vim.api.nvim_buf_is_loaded(bufnr) then
      vim.lsp.start(vim.deepcopy(config), { bufnr = bufnr })
    end
  end
end

local function on_exit(code, signal, client_id)
  -- Neovim itself treats exit code 0 and SIGTERM (its own :LspStop / client:stop(true)) as a clean stop.
  local crashed = code ~= 0 or (signal ~= 0 and signal ~= 15)
  statuses[client_id] = nil
  if not crashed or stopping_on_purpose or vim.v.exiting ~= vim.NIL then
    return
  end
  local client = vim.lsp.get_client_by_id(client_id)
  local buffers = client and vim.tbl_keys(client.attached_buffers) or {}
  local config = client and client.config or start_config
  local how = signal ~= 0 and ("signal " .. signal) or ("exit code " .. code)
  if client and not client.initialized then
    -- Restarting a server that cannot start only repeats the failure: say why once instead.
    vim.schedule(function()
      notify(
        ("the server failed to start (%s). See :LspLog for its output, and check cmd / python in "):format(how)
          .. "require('aqe').setup().",
        vim.log.levels.ERROR
      )
    end)
    return
  end
  local attempt = M._record_crash(vim.uv.now() / 1000)
  vim.schedule(function()
    if attempt == nil then
      notify(
        ("the server stopped %d times in %d minutes (last: %s) and will not be restarted. "):format(
          M.max_restarts + 1,
          M.restart_window_s / 60,
          how
        ) .. "See :LspLog for why, then run :AqeRestart.",
        vim.log.levels.ERROR
      )
      return
    end
    notify(
      ("the server stopped unexpectedly (%s); restarting it (restart %d of %d)."):format(how, attempt, M.max_restarts),
      vim.log.levels.WARN
    )
    start_for_buffers(config, buffers)
  end)
end

-- The server command and configuration -------------------------------------------------------------

local function server_cmd(opts)
  if opts.cmd then
    return opts.cmd
  end
  if opts.python then
    return { opts.python, "-m", "aqe", "serve" }
  end
  return { "aqe", "serve" }
end

--- Why `cmd` cannot start aqe, with the fix, or nil when it can.
function M.check_cmd(cmd)
  local program = cmd[1]
  if vim.fn.executable(program) ~= 1 then
    return ("%s was not found or is not executable. Install aqe (python -m pip install aqe) and put its `aqe` "
      .. "on your PATH, or pass cmd = { '/path/to/aqe', 'serve' } or python = '/path/to/python' to "
      .. "require('aqe').setup()."):format(program)
  end
  if cmd[2] == "-m" and cmd[3] == "aqe" then
    local result = vim.system({ program, "-c", "import aqe.cli" }, { text = true }):wait(30000)
    if result.code ~= 0 then
      local lines = vim.split(vim.trim(result.stderr or ""), "\n")
      return ("aqe is not installed in %s (%s). Install it there (%s -m pip install aqe), or pass another python "
        .. "to require('aqe').setup()."):format(program, lines[#lines] or "import failed", program)
    end
  end
  return nil
end

--- The client configuration (the shape vim.lsp.config and vim.lsp.start take).
function M.config(opts)
  opts = opts or {}
  local settings = vim.deepcopy(opts.settings or {})
  if opts.project_python then
    -- The interpreter that runs the project's tests (its dependencies are there), not the one running aqe.
    settings.projectPython = opts.project_python
  end
  if next(settings) == nil then
    settings = vim.empty_dict() -- an empty Lua table would reach the server as a JSON list, not an object
  end
  local trusted = opts.trusted
  if trusted == nil then
    trusted = true -- Neovim has no workspace trust of its own; pass trusted = false for code you do not trust
  end
  return {
    name = M.name,
    cmd = server_cmd(opts),
    filetypes = opts.filetypes or M.filetypes,
    root_markers = opts.root_markers or M.root_markers,
    -- Trust at the top, where the server reads it; settings under `aqe` (they count as user settings).
    init_options = { trusted = trusted, aqe = settings },
    settings = { aqe = settings }, -- answers workspace/configuration for section "aqe"
    handlers = { ["aqe/status"] = on_status },
    -- A code action naming a command whose answer must be shown runs here: sent to the server as a bare
    -- workspace/executeCommand, its answer (the related tests) would be dropped.
    commands = {
      [M.server_commands.related_tests] = function(command)
        M.related_tests(command.arguments)
      end,
    },
    on_exit = on_exit,
  }
end

-- Commands -----------------------------------------------------------------------------------------

local function aqe_client(bufnr)
  local clients = vim.lsp.get_clients({ name = M.name, bufnr = bufnr })
  if #clients == 0 then
    clients = vim.lsp.get_clients({ name = M.name })
  end
  return clients[1]
end

local function request(client, method, params, handler, bufnr)
  if has_011 then
    return client:request(method, params, handler, bufnr)
  end
  return client.request(method, params, handler, bufnr)
end

--- Runs a server command; `on_result(result, client)` gets its answer. Says why when it cannot run.
function M.execute(server_command, arguments, on_result)
  local bufnr = vim.api.nvim_get_current_buf()
  local client = aqe_client(bufnr)
  if client == nil then
    notify("the aqe server is not running in this buffer (see :checkhealth vim.lsp)", vim.log.levels.ERROR)
    return
  end
  local provider = client.server_capabilities.executeCommandProvider or {}
  if not vim.tbl_contains(provider.commands or {}, server_command) then
    notify(M.not_provided_message(server_command), vim.log.levels.WARN)
    return
  end
  request(client, "workspace/executeCommand", { command = server_command, arguments = arguments }, function(err, result)
    if err then
      notify(("%s failed: %s"):format(server_command, err.message or vim.inspect(err)), vim.log.levels.ERROR)
      return
    end
    if on_result then
      on_result(result, client)
    end
  end, bufnr)
end

local function cursor_argument(client)
  local params = vim.lsp.util.make_position_params(0, client and client.offset_encoding or "utf-16")
  return { uri = params.textDocument.uri, position = params.position }
end

local function show_json(title, value)
  -- Neovim 0.12 indents JSON itself; older versions show it on one line.
  local ok, text = pcall(vim.json.encode, value, { indent = "  ", sort_keys = true })
  if not ok then
    text = vim.json.encode(value)
  end
  vim.cmd("botright new")
  local buf = vim.api.nvim_get_current_buf()
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, vim.split(text, "\n", { trimempty = true }))
  vim.bo[buf].buftype = "nofile"
  vim.bo[buf].bufhidden = "wipe"
  vim.bo[buf].filetype = "json"
  vim.bo[buf].modified = false
  pcall(vim.api.nvim_buf_set_name, buf, title)
end

function M.generate_test()
  local client = aqe_client(0)
  -- Returns at once; the server reports $/progress, then sends workspace/applyEdit with the test.
  M.execute(M.server_commands.generate_test, { cursor_argument(client) }, function()
    notify("generating a test; it appears in the test file when it is ready and passes")
  end)
end

function M.reindex()
  M.execute(M.server_commands.reindex, {}, function()
    notify("re-indexing the workspace in the background")
  end)
end

--- At the cursor, or at `arguments` (those of the server's "Find related tests" code action).
function M.related_tests(arguments)
  local client = aqe_client(0)
  M.execute(M.server_commands.related_tests, arguments or { cursor_argument(client) }, function(locations, answered_by)
    if locations == nil or locations == vim.NIL or #locations == 0 then
      notify("no related tests found for the code at the cursor")
      return
    end
    local items = vim.lsp.util.locations_to_items(locations, answered_by.offset_encoding)
    vim.fn.setqflist({}, " ", { title = "aqe: related tests", items = items })
    vim.cmd("botright copen")
  end)
end

function M.learned()
  M.execute(M.server_commands.learned, {}, function(result)
    show_json("aqe://learned", result)
  end)
end

--- Forget what aqe learned about one rule or convention ("QE205", "convention/naming.tests").
function M.reset_learned(subject)
  if subject == nil or subject == "" then
    notify("name the rule or convention to reset, e.g. :AqeResetLearned QE205", vim.log.levels.WARN)
    return
  end
  M.execute(M.server_commands.reset_learned, { { subject = subject } }, function()
    notify("forgot what was learned about " .. subject)
  end)
end

function M.audit()
  M.execute(M.server_commands.audit, {}, function(result)
    show_json("aqe://privacy-audit", result)
  end)
end

function M.export_state(path)
  path = vim.fn.fnamemodify(vim.fn.expand(path), ":p")
  M.execute(M.server_commands.export_state, { { path = path } }, function()
    notify("learning state exported to " .. path)
  end)
end

function M.import_state(path)
  path = vim.fn.fnamemodify(vim.fn.expand(path), ":p")
  M.execute(M.server_commands.import_state, { { path = path } }, function()
    notify("learning state imported from " .. path)
  end)
end

function M.restart()
  crashes = {}
  local buffers = {}
  local config = start_config
  stopping_on_purpose = true
  for _, client in ipairs(vim.lsp.get_clients({ name = M.name })) do
    vim.list_extend(buffers, vim.tbl_keys(client.attached_buffers))
    config = client.config
    if has_011 then
      client:stop(true)
    else
      client.stop(true)
    end
  end
  if #buffers == 0 then
    buffers = { vim.api.nvim_get_current_buf() }
  end
  vim.defer_fn(function()
    stopping_on_purpose = false
    if config ~= nil then
      start_for_buffers(config, buffers)
    end
  end, 500)
end

local commands_defined = false

function M.define_commands()
  if commands_defined then
    return
  end
  commands_defined = true
  local define = vim.api.nvim_create_user_command
  define("AqeGenerateTest", M.generate_test, { desc = "aqe: generate a test for the function at the cursor" })
  define("AqeReindex", M.reindex, { desc = "aqe: re-index the workspace" })
  define("AqeRelatedTests", function()
    M.related_tests()
  end, { desc = "aqe: tests related to the code at the cursor (quickfix)" })
  define("AqeLearned", M.learned, { desc = "aqe: show what aqe has learned" })
  define("AqeResetLearned", function(args)
    M.reset_learned(args.args)
  end, { nargs = 1, desc = "aqe: forget what was learned about one rule or convention" })
  define("AqeAudit", M.audit, { desc = "aqe: privacy audit" })
  define("AqeExport", function(args)
    M.export_state(args.args)
  end, { nargs = 1, complete = "file", desc = "aqe: export the learning state to a file" })
  define("AqeImport", function(args)
    M.import_state(args.args)
  end, { nargs = 1, complete = "file", desc = "aqe: import a learning state file" })
  define("AqeStatus", function()
    notify(M.status():gsub("^aqe: ", ""))
  end, { desc = "aqe: model and privacy status" })
  define("AqeRestart", M.restart, { desc = "aqe: restart the server" })
end

-- Setup --------------------------------------------------------------------------------------------

--- Options: cmd (list), python (path), settings (aqe settings, camelCase keys), trusted (boolean),
--- filetypes, root_markers.
function M.setup(opts)
  opts = opts or {}
  local config = M.config(opts)
  M.define_commands()
  local problem = M.check_cmd(config.cmd)
  if problem ~= nil then
    notify(problem, vim.log.levels.ERROR)
    return false
  end
  start_config = config
  if has_011 then
    vim.lsp.config(M.name, config)
    vim.lsp.enable(M.name)
    return true
  end
  local group = vim.api.nvim_create_augroup("aqe", { clear = true })
  vim.api.nvim_create_autocmd("FileType", {
    group = group,
    pattern = config.filetypes,
    callback = function(event)
      local start = vim.deepcopy(config)
      start.root_dir = vim.fs.root(event.buf, config.root_markers) or vim.fn.getcwd()
      start.root_markers = nil
      start.filetypes = nil
      vim.lsp.start(start, { bufnr = event.buf })
    end,
  })
  -- Buffers already open when setup() runs.
  for _, bufnr in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(bufnr) and vim.tbl_contains(config.filetypes, vim.bo[bufnr].filetype) then
      vim.api.nvim_exec_autocmds("FileType", { group = group, buffer = bufnr })
    end
  end
  return true
end

return M
