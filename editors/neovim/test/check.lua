-- Loads ../lua/dockdap.lua in a plain Lua interpreter (lua5.4 from Debian)
-- with stubs for `vim` and nvim-dap, runs setup() and every user command
-- against a fake session, and prints one JSON object on stdout:
--   { adapters, configurations (function values called, prompts answered
--     with their defaults), commands, requests: [{command, args}] }
-- tests/editors.rs checks it: attribute names against `dockdap schema`,
-- the adapters, and which custom request each command sends.
-- Usage: lua5.4 editors/neovim/test/check.lua editors/neovim
-- It does not run Neovim: the Lua is plain enough that a stub suffices.

local root = assert(arg[1], 'usage: check.lua EDITORS_NEOVIM_DIR')
package.path = root .. '/lua/?.lua;' .. package.path

local EMPTY_DICT = setmetatable({}, { __name = 'empty_dict' })
local requests, commands, notes = {}, {}, {}

local session = {
  request = function(_, command, args, callback)
    table.insert(requests, { command = command, args = args })
    callback(nil, { status = 200, body = '[1]', text = 'log line', image = 'debug:2', pulled = {}, pushed = {}, conflicts = {} })
  end,
}
package.loaded['dap'] = { adapters = {}, configurations = {}, session = function() return session end }

vim = {
  log = { levels = { INFO = 2, ERROR = 4 } },
  fn = {
    input = function(_, default) return default end,
    expand = function(path) return path end,
  },
  empty_dict = function() return EMPTY_DICT end,
  notify = function(text) table.insert(notes, text) end,
  split = function(text) return { text } end,
  cmd = function() end,
  bo = setmetatable({}, { __index = function() return {} end }),
  api = {
    nvim_create_user_command = function(name, run, opts)
      commands[name] = { run = run, opts = opts }
    end,
    nvim_get_current_buf = function() return 1 end,
    nvim_buf_set_name = function() end,
    nvim_buf_set_lines = function() end,
  },
}

local dockdap = require('dockdap')
dockdap.setup()

local dap = package.loaded['dap']
local configurations = {}
for _, config in ipairs(dap.configurations.python) do
  local evaluated = {}
  for k, v in pairs(config) do
    evaluated[k] = type(v) == 'function' and v() or v
  end
  table.insert(configurations, evaluated)
end

-- Every command, in a fixed order; file arguments read a real file.
local sample = os.tmpname()
local f = assert(io.open(sample, 'w'))
f:write('{"data": [[1, 2]]}')
f:close()
local names = {}
for name in pairs(commands) do
  table.insert(names, name)
end
table.sort(names)
for _, name in ipairs(names) do
  commands[name].run({ args = '' })
end
commands.DockdapScore.run({ args = sample })
commands.DockdapCommit.run({ args = 'debug:7' })
os.remove(sample)

local function encode(v)
  local t = type(v)
  if v == EMPTY_DICT then
    return '{}'
  elseif t == 'table' then
    if #v > 0 or next(v) == nil then
      local items = {}
      for _, item in ipairs(v) do
        table.insert(items, encode(item))
      end
      return '[' .. table.concat(items, ',') .. ']'
    end
    local keys = {}
    for k in pairs(v) do
      table.insert(keys, k)
    end
    table.sort(keys)
    local items = {}
    for _, k in ipairs(keys) do
      table.insert(items, encode(tostring(k)) .. ':' .. encode(v[k]))
    end
    return '{' .. table.concat(items, ',') .. '}'
  elseif t == 'string' then
    return '"' .. v:gsub('[%c"\\]', function(c) return string.format('\\u%04x', c:byte()) end) .. '"'
  elseif t == 'number' or t == 'boolean' then
    return tostring(v)
  end
  error('cannot encode a ' .. t)
end

io.write(encode({ adapters = dap.adapters, configurations = configurations, commands = names, requests = requests }), '\n')
