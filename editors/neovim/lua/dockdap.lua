--- dockdap for Neovim's nvim-dap: the debug adapters `dockdap` (stdio) and
--- `dockdap-tcp` (`dockdap --listen 127.0.0.1:${port}`), configurations for
--- Python buffers, and user commands that send dockdap's own requests to the
--- running session (:DockdapScore, :DockdapLogs, :DockdapCommit, :DockdapSync,
--- :DockdapReload).
---
--- Usage: put editors/neovim on 'runtimepath', then
---   require('dockdap').setup({ program = '/path/to/dockdap' })
---
--- This module does not check configurations: dockdap answers a bad one with
--- an error that says what to change. Attribute names are checked against
--- `dockdap schema` by the project's tests (tests/editors.rs).
--- Plain Lua 5.1 (LuaJIT), so it also loads in the tests' lua5.4.
local M = {}

M.defaults = {
  program = 'dockdap', -- the dockdap executable; a bare name is looked up on PATH
  image = 'dockdap/azureml-score:debug',
  app_root = '/var/azureml-app',
  filetypes = { 'python' },
}

local function merge(defaults, opts)
  local out = {}
  for k, v in pairs(defaults) do
    out[k] = v
  end
  for k, v in pairs(opts or {}) do
    out[k] = v
  end
  return out
end

--- The nvim-dap adapter definitions.
function M.adapters(opts)
  return {
    dockdap = { type = 'executable', command = opts.program, args = {} },
    ['dockdap-tcp'] = {
      type = 'server',
      port = '${port}',
      executable = { command = opts.program, args = { '--listen', '127.0.0.1:${port}' } },
    },
  }
end

--- The nvim-dap configurations (function values are asked for when started).
function M.configurations(opts)
  local function launch(adapter, name)
    return {
      type = adapter,
      request = 'launch',
      name = name,
      image = function()
        return vim.fn.input('Image: ', opts.image)
      end,
      appRoot = opts.app_root,
      localRoot = '${workspaceFolder}',
      ports = { '8000:5001' },
    }
  end
  return {
    launch('dockdap', 'dockdap: launch score.py in a container'),
    launch('dockdap-tcp', 'dockdap: launch score.py in a container (TCP)'),
    {
      type = 'dockdap',
      request = 'attach',
      name = 'dockdap: attach to a running container',
      container = function()
        return vim.fn.input('Container: ', 'debug')
      end,
      appRoot = opts.app_root,
      localRoot = '${workspaceFolder}',
    },
    {
      type = 'dockdap',
      request = 'attach',
      name = 'dockdap: attach to debugpy at host:port',
      connect = function()
        return {
          host = vim.fn.input('Host: ', '127.0.0.1'),
          port = tonumber(vim.fn.input('Port: ', '5678')),
        }
      end,
      appRoot = opts.app_root,
      localRoot = '${workspaceFolder}',
    },
  }
end

local function notify(text, level)
  vim.notify('dockdap: ' .. text, level or vim.log.levels.INFO)
end

--- Sends dockdap's request `command` to the running session; `show(body)` on success.
function M.request(command, args, show)
  local session = require('dap').session()
  if not session then
    notify('no debug session is running; start one with :lua require("dap").continue()', vim.log.levels.ERROR)
    return
  end
  -- An empty Lua table would go out as a JSON array.
  if next(args) == nil then
    args = vim.empty_dict()
  end
  session:request(command, args, function(err, body)
    if err then
      notify(command .. ' failed: ' .. tostring(err.message or err), vim.log.levels.ERROR)
    else
      show(body or {})
    end
  end)
end

local function scratch(title, text)
  vim.cmd('new')
  local buf = vim.api.nvim_get_current_buf()
  vim.bo[buf].buftype = 'nofile'
  vim.api.nvim_buf_set_name(buf, 'dockdap ' .. title)
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, vim.split(text, '\n', { plain = true }))
end

--- The user commands: name -> { run = function(opts), nargs = ... }.
M.commands = {
  DockdapScore = {
    nargs = '?',
    complete = 'file',
    desc = 'dockdap: POST the sample scoring request, or the JSON file given',
    run = function(o)
      local args = {}
      if o.args ~= '' then
        local file = io.open(vim.fn.expand(o.args), 'r')
        if not file then
          notify('cannot read ' .. o.args, vim.log.levels.ERROR)
          return
        end
        args.data = file:read('*a')
        file:close()
      end
      M.request('dockdap/score', args, function(body)
        notify('POST /score -> ' .. tostring(body.status) .. ': ' .. tostring(body.body))
      end)
    end,
  },
  DockdapLogs = {
    nargs = 0,
    desc = "dockdap: show the container's last output lines",
    run = function()
      M.request('dockdap/logs', {}, function(body)
        scratch('logs', body.text or '')
      end)
    end,
  },
  DockdapCommit = {
    nargs = '?',
    desc = 'dockdap: snapshot the container (docker commit), optionally as TAG',
    run = function(o)
      local args = {}
      if o.args ~= '' then
        args.tag = o.args
      end
      M.request('dockdap/commit', args, function(body)
        notify('container saved as ' .. tostring(body.image))
      end)
    end,
  },
  DockdapReload = {
    nargs = 0,
    desc = 'dockdap: reload the app in place (saves in, workers restarted, breakpoints kept)',
    run = function()
      M.request('dockdap/reload', {}, function(body)
        notify('reloaded the ' .. tostring(body.reloaded))
      end)
    end,
  },
  DockdapSync = {
    nargs = 0,
    desc = 'dockdap: sync files between the workspace and the container',
    run = function()
      M.request('dockdap/sync', {}, function(body)
        notify(
          string.format('pulled %d, pushed %d, conflicts %d', #(body.pulled or {}), #(body.pushed or {}), #(body.conflicts or {}))
        )
      end)
    end,
  },
}

--- Registers the adapters, the configurations (for opts.filetypes) and the commands.
function M.setup(opts)
  opts = merge(M.defaults, opts)
  local dap = require('dap')
  for name, adapter in pairs(M.adapters(opts)) do
    dap.adapters[name] = adapter
  end
  for _, filetype in ipairs(opts.filetypes) do
    local list = dap.configurations[filetype] or {}
    for _, config in ipairs(M.configurations(opts)) do
      table.insert(list, config)
    end
    dap.configurations[filetype] = list
  end
  for name, command in pairs(M.commands) do
    vim.api.nvim_create_user_command(name, command.run, {
      nargs = command.nargs,
      complete = command.complete,
      desc = command.desc,
    })
  end
end

return M
