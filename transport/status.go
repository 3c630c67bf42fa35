package transport

import (
	"context"
	"errors"
	"fmt"
	"strconv"
)

// Code is the status of a finished call. The values follow gRPC's codes,
// so they read the same in logs and map one to one at gateways.
type Code uint8

// The status codes.
const (
	OK                 Code = 0
	Canceled           Code = 1
	Unknown            Code = 2
	InvalidArgument    Code = 3
	DeadlineExceeded   Code = 4
	NotFound           Code = 5
	AlreadyExists      Code = 6
	PermissionDenied   Code = 7
	ResourceExhausted  Code = 8
	FailedPrecondition Code = 9
	Aborted            Code = 10
	OutOfRange         Code = 11
	Unimplemented      Code = 12
	Internal           Code = 13
	Unavailable        Code = 14
	DataLoss           Code = 15
	Unauthenticated    Code = 16

	numCodes = 17
)

var codeNames = [numCodes]string{
	"ok", "canceled", "unknown", "invalid_argument", "deadline_exceeded",
	"not_found", "already_exists", "permission_denied", "resource_exhausted",
	"failed_precondition", "aborted", "out_of_range", "unimplemented",
	"internal", "unavailable", "data_loss", "unauthenticated",
}

// String returns the code's snake_case name, e.g. "deadline_exceeded".
func (c Code) String() string {
	if int(c) < len(codeNames) {
		return codeNames[c]
	}
	return "code(" + strconv.Itoa(int(c)) + ")"
}

// Error makes a Code usable as an error and as an errors.Is target:
// errors.Is(err, transport.NotFound) holds for any *Error with that code.
// A handler may return a bare Code.
func (c Code) Error() string { return c.String() }

// Error is a call's failure: a status code and a message, as the server
// sent it or as the client concluded it. Match it with errors.Is against a
// Code, or take it apart with errors.As.
type Error struct {
	Code    Code
	Message string
	// Unprocessed reports that the call provably did not run on the
	// server: the client never opened its stream, or the server answered
	// Unavailable before running any handler. Such a call may be retried
	// even if it is not idempotent.
	Unprocessed bool
	// cause is the local error this status was derived from, if any.
	cause error
}

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

func (e *Error) Error() string {
	if e.Message == "" {
		return "rpc error: " + e.Code.String()
	}
	return "rpc error: " + e.Code.String() + ": " + e.Message
}

// Is matches a Code equal to e.Code, or an *Error with the same code and,
// if the target has one, the same message.
func (e *Error) Is(target error) bool {
	switch t := target.(type) {
	case Code:
		return e.Code == t
	case *Error:
		return e.Code == t.Code && (t.Message == "" || t.Message == e.Message)
	}
	return false
}

// Unwrap returns the local error the status was derived from, such as
// context.DeadlineExceeded.
func (e *Error) Unwrap() error { return e.cause }

// Sentinels for failures on the client side.
var (
	// ErrCircuitOpen: every candidate's circuit breaker is open, so the
	// call was refused without touching the network.
	ErrCircuitOpen = &Error{Code: Unavailable, Message: "circuit breaker open", Unprocessed: true}
	// ErrNoPeers: the call was given no candidate peers.
	ErrNoPeers = &Error{Code: Unavailable, Message: "no candidate peers", Unprocessed: true}
	// ErrClientClosed: the client was closed.
	ErrClientClosed = &Error{Code: Canceled, Message: "client closed", Unprocessed: true}
	// ErrServerClosed is returned by Serve after Shutdown or Close.
	ErrServerClosed = errors.New("transport: server closed")
)

// CodeOf returns the status code err stands for: OK for nil, the code of
// an *Error or Code in its chain, DeadlineExceeded or Canceled for context
// errors, and Unknown for anything else.
func CodeOf(err error) Code {
	if err == nil {
		return OK
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	var c Code
	if errors.As(err, &c) {
		return c
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return DeadlineExceeded
	case errors.Is(err, context.Canceled):
		return Canceled
	}
	return Unknown
}

// statusOf converts a handler's error into the status sent to the caller.
func statusOf(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: CodeOf(err), Message: err.Error()}
}

// ctxError turns the end of a call's context into a status. A caller may
// find the deadline passed before the context's timer has fired, while
// the context still reports no error: that is a DeadlineExceeded too.
func ctxError(ctx context.Context, unprocessed bool) *Error {
	err := context.Cause(ctx)
	if err == nil {
		err = ctx.Err()
	}
	if err == nil {
		err = context.DeadlineExceeded
	}
	code := Canceled
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || ctx.Err() == nil {
		code = DeadlineExceeded
	}
	return &Error{Code: code, Message: err.Error(), Unprocessed: unprocessed, cause: err}
}
