//! The requests a client may send, by the Debug Adapter Protocol
//! specification (<https://microsoft.github.io/debug-adapter-protocol/specification#Requests>),
//! so that a request that comes too early can be told apart from one that
//! no debugger knows (`launch2`), and the latter answered with a guess.
//!
//! This is not a filter: once the session runs, every request goes to
//! debugpy, which may know more (`debugpySystemInfo`).

/// Client-to-adapter requests of the specification.
pub const CLIENT_REQUESTS: &[&str] = &[
    "attach",
    "breakpointLocations",
    "cancel",
    "completions",
    "configurationDone",
    "continue",
    "dataBreakpointInfo",
    "disassemble",
    "disconnect",
    "evaluate",
    "exceptionInfo",
    "goto",
    "gotoTargets",
    "initialize",
    "launch",
    "loadedSources",
    "locations",
    "modules",
    "next",
    "pause",
    "readMemory",
    "restart",
    "restartFrame",
    "reverseContinue",
    "scopes",
    "setBreakpoints",
    "setDataBreakpoints",
    "setExceptionBreakpoints",
    "setExpression",
    "setFunctionBreakpoints",
    "setInstructionBreakpoints",
    "setVariable",
    "source",
    "stackTrace",
    "stepBack",
    "stepIn",
    "stepInTargets",
    "stepOut",
    "terminate",
    "terminateThreads",
    "threads",
    "variables",
    "writeMemory",
];

/// Whether `command` is a request of the specification.
pub fn is_client_request(command: &str) -> bool {
    CLIENT_REQUESTS.contains(&command)
}
