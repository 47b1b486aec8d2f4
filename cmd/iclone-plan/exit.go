package main

import (
	"errors"
	"strconv"
)

// Exit codes, as documented in the README; docs/design.md (section 5,
// "Outcomes") maps the executor's outcomes to them.
const (
	ExitOK             = 0   // success; plan: no changes
	ExitError          = 1   // error, nothing changed
	ExitChanges        = 2   // plan --detailed-exitcode: there are changes
	ExitRolledBack     = 3   // apply failed and was rolled back
	ExitRollbackFailed = 4   // apply failed and rollback was incomplete
	ExitLocked         = 5   // another run holds the plan's lock
	ExitPartial        = 6   // apply finished with failures (onFailure: continue, or a failed final destroy)
	ExitOutputs        = 7   // the run succeeded, but its --report or --metrics-file could not be written
	ExitInterrupted    = 130 // interrupted (after rollback)
)

// exitError carries an exit code through cobra's error return. When silent is
// set the command has already told the user what happened and main prints
// nothing more.
type exitError struct {
	code   int
	err    error
	silent bool
}

func (e *exitError) Error() string {
	if e.err == nil {
		return "exit status " + strconv.Itoa(e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// withExit attaches an exit code to err. A nil err with a non-zero code is a
// silent exit (for example plan --detailed-exitcode with changes).
func withExit(code int, err error) error {
	return &exitError{code: code, err: err, silent: err == nil}
}

// silentExit returns an error that only sets the exit code; the command has
// already reported everything.
func silentExit(code int) error { return &exitError{code: code, silent: true} }

func isSilent(err error) bool {
	var e *exitError
	return errors.As(err, &e) && e.silent
}

// exitCode maps an error returned by a command to the process exit code.
func exitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var e *exitError
	if errors.As(err, &e) {
		return e.code
	}
	return ExitError
}
