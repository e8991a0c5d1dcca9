// dockdap for VS Code: starts the `dockdap` debug adapter (stdio) for
// `"type": "dockdap"` configurations, and sends dockdap's own DAP requests
// (`dockdap/commit`, `dockdap/sync`, `dockdap/score`, `dockdap/logs`,
// `dockdap/reload`) to the
// active debug session.
//
// Plain JavaScript with no dependencies beyond the `vscode` API, so it runs
// from this folder and packs as a .vsix without a toolchain. The launch and
// attach attributes live in package.json, generated from `dockdap schema`
// (tests/editors.rs fails when they differ). This file does not validate
// configurations: dockdap answers a bad one with an error that says what to
// change.
'use strict';

const vscode = require('vscode');

const DEBUG_TYPE = 'dockdap';

/** The configured adapter executable (`dockdap.adapterPath`, default `dockdap` on PATH). */
function adapterPath() {
  const configured = vscode.workspace.getConfiguration('dockdap').get('adapterPath');
  return typeof configured === 'string' && configured.trim() !== '' ? configured.trim() : 'dockdap';
}

/** Starts `dockdap` on stdio, in the session's workspace folder (dockdap's default `localRoot`). */
class AdapterFactory {
  createDebugAdapterDescriptor(session) {
    const options = {};
    if (session && session.workspaceFolder && session.workspaceFolder.uri.scheme === 'file') {
      options.cwd = session.workspaceFolder.uri.fsPath;
    }
    return new vscode.DebugAdapterExecutable(adapterPath(), [], options);
  }
}

/** The active dockdap session, or undefined after telling the user why there is none. */
function activeSession() {
  const session = vscode.debug.activeDebugSession;
  if (session && session.type === DEBUG_TYPE) {
    return session;
  }
  vscode.window.showErrorMessage('dockdap: no dockdap debug session is active; start one first (Run and Debug).');
  return undefined;
}

/** Sends one custom request; failures become error messages, never exceptions. */
async function send(session, command, args) {
  try {
    return await session.customRequest(command, args);
  } catch (e) {
    vscode.window.showErrorMessage(`dockdap: ${command} failed: ${e && e.message ? e.message : e}`);
    return undefined;
  }
}

function commands(output) {
  return {
    'dockdap.commit': async () => {
      const session = activeSession();
      if (!session) {
        return;
      }
      const tag = await vscode.window.showInputBox({
        prompt: 'Tag for the snapshot (empty: the next version, debug:1 -> debug:2)',
        placeHolder: 'debug:2',
      });
      if (tag === undefined) {
        return; // cancelled
      }
      const body = await send(session, 'dockdap/commit', tag.trim() ? { tag: tag.trim() } : {});
      if (body) {
        vscode.window.showInformationMessage(`dockdap: container saved as ${body.image}`);
      }
    },
    'dockdap.sync': async () => {
      const session = activeSession();
      if (!session) {
        return;
      }
      const body = await send(session, 'dockdap/sync', {});
      if (body) {
        const count = (list) => (Array.isArray(list) ? list.length : 0);
        const text = `dockdap: pulled ${count(body.pulled)}, pushed ${count(body.pushed)}, conflicts ${count(body.conflicts)}`;
        if (count(body.conflicts) > 0) {
          vscode.window.showWarningMessage(`${text}: ${body.conflicts.join(', ')}`);
        } else {
          vscode.window.showInformationMessage(text);
        }
      }
    },
    'dockdap.score': async () => {
      const session = activeSession();
      if (!session) {
        return;
      }
      const sample = 'Send the sample request';
      const pick = await vscode.window.showQuickPick([sample, 'Send a JSON file...'], {
        placeHolder: 'POST /score to the service in the container',
      });
      if (pick === undefined) {
        return;
      }
      let args = {};
      if (pick !== sample) {
        const files = await vscode.window.showOpenDialog({
          canSelectMany: false,
          filters: { JSON: ['json'] },
          openLabel: 'Send',
        });
        if (!files || files.length === 0) {
          return;
        }
        const text = Buffer.from(await vscode.workspace.fs.readFile(files[0])).toString('utf8');
        try {
          JSON.parse(text);
        } catch (e) {
          vscode.window.showErrorMessage(`dockdap: ${files[0].fsPath} is not JSON: ${e.message}`);
          return;
        }
        args = { data: text };
      }
      const body = await send(session, 'dockdap/score', args);
      if (body) {
        output.appendLine(`POST /score -> ${body.status}`);
        output.appendLine(typeof body.body === 'string' ? body.body : JSON.stringify(body.body));
        output.show(true);
      }
    },
    'dockdap.reload': async () => {
      const session = activeSession();
      if (!session) {
        return;
      }
      const body = await send(session, 'dockdap/reload', {});
      if (body) {
        const pushed = Array.isArray(body.pushed) && body.pushed.length > 0 ? ` (copied ${body.pushed.join(', ')})` : '';
        vscode.window.showInformationMessage(`dockdap: reloaded the ${body.reloaded}${pushed}`);
      }
    },
    'dockdap.logs': async () => {
      const session = activeSession();
      if (!session) {
        return;
      }
      const body = await send(session, 'dockdap/logs', {});
      if (body) {
        output.clear();
        output.append(body.text || '');
        output.show(true);
      }
    },
  };
}

function activate(context) {
  const output = vscode.window.createOutputChannel('dockdap');
  context.subscriptions.push(output);
  context.subscriptions.push(vscode.debug.registerDebugAdapterDescriptorFactory(DEBUG_TYPE, new AdapterFactory()));
  for (const [name, run] of Object.entries(commands(output))) {
    context.subscriptions.push(vscode.commands.registerCommand(name, run));
  }
}

function deactivate() {}

module.exports = { activate, deactivate };
