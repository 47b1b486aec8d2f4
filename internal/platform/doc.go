// Package platform holds what differs between the operating systems
// iclone-plan runs on (Linux, macOS, Windows): whether a local process is
// alive, the state and cache directories, the signals that start a
// rollback, and whether an output is a terminal that can show colour.
//
// The OS-specific parts are small build-tagged files; the decisions built on
// them (which directory, colour or not) are plain functions of their inputs,
// so they are tested on any OS.
package platform
