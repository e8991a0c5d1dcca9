// Loads the dockdap VS Code extension against a stub `vscode` module (Node
// built-ins only: node:test, node:assert, Module._load) and checks what it
// does: every contributed command sends the right custom request with the
// right arguments to the active dockdap session, and the debug adapter
// factory starts the configured executable.
//
// Run: node editors/vscode/test/run.js (tests/editors.rs runs it).
// It does not check the configuration attributes: tests/editors.rs compares
// those with `dockdap schema`.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const Module = require('node:module');
const path = require('node:path');

const root = path.join(__dirname, '..');
const pkg = require(path.join(root, 'package.json'));

/** A fresh fake of the part of the VS Code API the extension uses. */
function makeVscode() {
  const state = {
    settings: {},
    commands: new Map(),
    factories: new Map(),
    answers: [], // what the next showInputBox/showQuickPick/showOpenDialog returns, in order
    asked: [],
    messages: [],
    files: new Map(),
    output: { lines: [], shown: 0 },
    requests: [],
  };
  const answer = (kind) => (options) => {
    state.asked.push({ kind, options });
    assert.ok(state.answers.length > 0, `unexpected ${kind}`);
    return Promise.resolve(state.answers.shift());
  };
  const message = (level) => (text) => {
    state.messages.push({ level, text });
    return Promise.resolve(undefined);
  };
  class DebugAdapterExecutable {
    constructor(command, args, options) {
      this.command = command;
      this.args = args;
      this.options = options;
    }
  }
  const vscode = {
    DebugAdapterExecutable,
    workspace: {
      getConfiguration: (section) => ({ get: (key) => state.settings[`${section}.${key}`] }),
      fs: {
        readFile: (uri) => {
          assert.ok(state.files.has(uri.fsPath), `no such file ${uri.fsPath}`);
          return Promise.resolve(new Uint8Array(Buffer.from(state.files.get(uri.fsPath), 'utf8')));
        },
      },
    },
    window: {
      createOutputChannel: (name) => {
        state.output.name = name;
        return {
          append: (text) => state.output.lines.push(text),
          appendLine: (text) => state.output.lines.push(`${text}\n`),
          clear: () => (state.output.lines = []),
          show: () => state.output.shown++,
          dispose: () => {},
        };
      },
      showInputBox: answer('showInputBox'),
      showQuickPick: answer('showQuickPick'),
      showOpenDialog: answer('showOpenDialog'),
      showErrorMessage: message('error'),
      showWarningMessage: message('warning'),
      showInformationMessage: message('info'),
    },
    debug: {
      activeDebugSession: undefined,
      registerDebugAdapterDescriptorFactory: (type, factory) => {
        state.factories.set(type, factory);
        return { dispose() {} };
      },
    },
    commands: {
      registerCommand: (name, run) => {
        assert.ok(!state.commands.has(name), `${name} registered twice`);
        state.commands.set(name, run);
        return { dispose() {} };
      },
    },
  };
  return { vscode, state };
}

/** A dockdap session whose custom requests answer with `replies[command]` (a function may throw). */
function makeSession(state, replies, type = 'dockdap') {
  return {
    type,
    name: 'test session',
    customRequest: async (command, args) => {
      state.requests.push({ command, args });
      const reply = replies[command];
      return typeof reply === 'function' ? reply(args) : reply;
    },
  };
}

/** Loads extension.js afresh with the fake as `vscode`, and activates it. */
function activate() {
  const { vscode, state } = makeVscode();
  const load = Module._load;
  Module._load = function (request, parent, isMain) {
    return request === 'vscode' ? vscode : load.call(this, request, parent, isMain);
  };
  try {
    const file = require.resolve(path.join(root, 'extension.js'));
    delete require.cache[file];
    const extension = require(file);
    const context = { subscriptions: [] };
    extension.activate(context);
    assert.ok(context.subscriptions.length >= 6, 'everything registered is disposed with the extension');
    return { vscode, state, run: (name) => state.commands.get(name)() };
  } finally {
    Module._load = load;
  }
}

const REPLIES = {
  'dockdap/commit': (args) => ({ image: args.tag || 'debug:2' }),
  'dockdap/sync': { pulled: ['score.py'], pushed: [], conflicts: [] },
  'dockdap/score': { status: 200, body: '[39.0, 22.5]' },
  'dockdap/logs': { text: 'Initializing model\nlistening on 5001\n' },
  'dockdap/reload': { reloaded: 'workers', pushed: ['/ws/score.py'], workers: [77] },
};

test('every contributed command is registered, and nothing else', () => {
  const { state } = activate();
  const contributed = pkg.contributes.commands.map((c) => c.command).sort();
  assert.deepEqual([...state.commands.keys()].sort(), contributed);
  assert.deepEqual(contributed, ['dockdap.commit', 'dockdap.logs', 'dockdap.reload', 'dockdap.score', 'dockdap.sync']);
  for (const entry of pkg.contributes.menus.commandPalette) {
    assert.ok(contributed.includes(entry.command), entry.command);
  }
  for (const name of contributed) {
    assert.ok(pkg.activationEvents.includes(`onCommand:${name}`), `activation event for ${name}`);
  }
  assert.equal(pkg.main, './extension.js');
  assert.deepEqual(pkg.contributes.debuggers.map((d) => d.type), ['dockdap']);
});

test('dockdap.commit sends dockdap/commit with the tag, or none for the next version', async () => {
  const { vscode, state, run } = activate();
  vscode.debug.activeDebugSession = makeSession(state, REPLIES);
  state.answers.push(' debug:7 ', '', undefined);
  await run('dockdap.commit');
  await run('dockdap.commit');
  await run('dockdap.commit'); // cancelled: nothing sent
  assert.deepEqual(state.requests, [
    { command: 'dockdap/commit', args: { tag: 'debug:7' } },
    { command: 'dockdap/commit', args: {} },
  ]);
  assert.deepEqual(state.messages.map((m) => m.text), [
    'dockdap: container saved as debug:7',
    'dockdap: container saved as debug:2',
  ]);
});

test('dockdap.reload sends dockdap/reload and says what was reloaded', async () => {
  const { vscode, state, run } = activate();
  vscode.debug.activeDebugSession = makeSession(state, REPLIES);
  await run('dockdap.reload');
  assert.deepEqual(state.requests, [{ command: 'dockdap/reload', args: {} }]);
  assert.deepEqual(state.messages.map((m) => m.text), ['dockdap: reloaded the workers (copied /ws/score.py)']);
});

test('dockdap.sync sends dockdap/sync and reports conflicts', async () => {
  const { vscode, state, run } = activate();
  vscode.debug.activeDebugSession = makeSession(state, REPLIES);
  await run('dockdap.sync');
  vscode.debug.activeDebugSession = makeSession(state, {
    'dockdap/sync': { pulled: [], pushed: ['a.py'], conflicts: ['score.py'] },
  });
  await run('dockdap.sync');
  assert.deepEqual(state.requests, [
    { command: 'dockdap/sync', args: {} },
    { command: 'dockdap/sync', args: {} },
  ]);
  assert.deepEqual(state.messages, [
    { level: 'info', text: 'dockdap: pulled 1, pushed 0, conflicts 0' },
    { level: 'warning', text: 'dockdap: pulled 0, pushed 1, conflicts 1: score.py' },
  ]);
});

test('dockdap.score sends the sample (no data) or the chosen file as data', async () => {
  const { vscode, state, run } = activate();
  vscode.debug.activeDebugSession = makeSession(state, REPLIES);
  const request = '{"data": [[1, 2, 3]]}\n';
  state.files.set('/ws/request.json', request);
  state.files.set('/ws/broken.json', '{"data": [');
  state.answers.push('Send the sample request');
  await run('dockdap.score');
  state.answers.push('Send a JSON file...', [{ fsPath: '/ws/request.json', scheme: 'file' }]);
  await run('dockdap.score');
  state.answers.push('Send a JSON file...', [{ fsPath: '/ws/broken.json', scheme: 'file' }]);
  await run('dockdap.score'); // not JSON: nothing sent
  state.answers.push('Send a JSON file...', undefined);
  await run('dockdap.score'); // dialog cancelled
  state.answers.push(undefined);
  await run('dockdap.score'); // pick cancelled
  assert.deepEqual(state.requests, [
    { command: 'dockdap/score', args: {} },
    { command: 'dockdap/score', args: { data: request } },
  ]);
  assert.equal(state.output.lines.join(''), 'POST /score -> 200\n[39.0, 22.5]\nPOST /score -> 200\n[39.0, 22.5]\n');
  assert.equal(state.messages.length, 1);
  assert.match(state.messages[0].text, /^dockdap: \/ws\/broken\.json is not JSON/);
});

test('dockdap.logs sends dockdap/logs and shows the text in the dockdap output channel', async () => {
  const { vscode, state, run } = activate();
  vscode.debug.activeDebugSession = makeSession(state, REPLIES);
  await run('dockdap.logs');
  assert.deepEqual(state.requests, [{ command: 'dockdap/logs', args: {} }]);
  assert.equal(state.output.name, 'dockdap');
  assert.equal(state.output.lines.join(''), 'Initializing model\nlistening on 5001\n');
  assert.equal(state.output.shown, 1);
});

test('without an active dockdap session nothing is sent and the user is told', async () => {
  const { vscode, state, run } = activate();
  for (const session of [undefined, makeSession(state, REPLIES, 'python')]) {
    vscode.debug.activeDebugSession = session;
    for (const name of state.commands.keys()) {
      await run(name);
    }
  }
  assert.deepEqual(state.requests, []);
  assert.deepEqual(state.asked, [], 'no prompt before the session is known');
  assert.equal(state.messages.length, 10);
  assert.ok(state.messages.every((m) => m.level === 'error' && /no dockdap debug session is active/.test(m.text)));
});

test('a failed custom request becomes an error message', async () => {
  const { vscode, state, run } = activate();
  vscode.debug.activeDebugSession = makeSession(state, {
    'dockdap/logs': () => {
      throw new Error('this session has no container, so there are no container logs');
    },
  });
  await run('dockdap.logs');
  assert.deepEqual(state.messages, [
    {
      level: 'error',
      text: 'dockdap: dockdap/logs failed: this session has no container, so there are no container logs',
    },
  ]);
});

test('the adapter factory starts dockdap.adapterPath on stdio, in the workspace folder', () => {
  const { state, vscode } = activate();
  const factory = state.factories.get('dockdap');
  assert.ok(factory, 'a factory for type dockdap');
  const folder = { uri: { scheme: 'file', fsPath: '/home/user/project' } };
  let exe = factory.createDebugAdapterDescriptor({ type: 'dockdap', workspaceFolder: folder });
  assert.ok(exe instanceof vscode.DebugAdapterExecutable);
  assert.equal(exe.command, 'dockdap', 'default: dockdap on PATH');
  assert.deepEqual(exe.args, []);
  assert.deepEqual(exe.options, { cwd: '/home/user/project' });
  state.settings['dockdap.adapterPath'] = '/opt/dockdap/target/release/dockdap';
  exe = factory.createDebugAdapterDescriptor({ type: 'dockdap' });
  assert.equal(exe.command, '/opt/dockdap/target/release/dockdap');
  assert.deepEqual(exe.options, {});
  const setting = pkg.contributes.configuration.properties['dockdap.adapterPath'];
  assert.equal(setting.default, 'dockdap');
});
