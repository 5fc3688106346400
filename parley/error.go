package parley

import (
	"errors"
	"fmt"
	"net/http"
)

// Error codes of the wire contract. Every error a client can see carries one.
const (
	EBadRequest   = "bad_request"
	EUnauthorized = "unauthorized"
	EForbidden    = "forbidden"
	ENotFound     = "not_found"
	EConflict     = "conflict"
	ERateLimited  = "rate_limited"
	ETooLarge     = "too_large"
	EUnavailable  = "unavailable"
	EInternal     = "internal"
)

// Error is an error a client is meant to see: a contract code and a message
// written for people. Any other error is reported as EInternal with a
// generic message, so internal details never leak to clients.
type Error struct {
	Code    string
	Message string
}

// Error implements the error interface.
func (e *Error) Error() string {
	return fmt.Sprintf("parley error: code=%s message=%s", e.Code, e.Message)
}

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code string, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EInternal
// for any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}

// ErrorMessage returns the message of the first *Error in err's chain and a
// generic message for any other non-nil error.
func ErrorMessage(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Message
	}
	return "Internal error."
}

// codeTable maps each code to its HTTP status and to the WebSocket close
// code used when that error ends a connection. It is the one place where
// codes meet transports.
var codeTable = map[string]struct {
	status int
	close  int
}{
	EBadRequest:   {http.StatusBadRequest, CloseProtocolError},
	EUnauthorized: {http.StatusUnauthorized, CloseUnauthorized},
	EForbidden:    {http.StatusForbidden, CloseForbidden},
	ENotFound:     {http.StatusNotFound, CloseProtocolError},
	EConflict:     {http.StatusConflict, CloseProtocolError},
	ERateLimited:  {http.StatusTooManyRequests, CloseRateLimited},
	ETooLarge:     {http.StatusRequestEntityTooLarge, CloseMessageTooBig},
	EUnavailable:  {http.StatusServiceUnavailable, CloseTryAgainLater},
	EInternal:     {http.StatusInternalServerError, CloseInternalError},
}

// HTTPStatus returns the HTTP status for an error code.
func HTTPStatus(code string) int {
	if v, ok := codeTable[code]; ok {
		return v.status
	}
	return http.StatusInternalServerError
}

// CloseCode returns the WebSocket close code used when an error with the
// given code ends a connection.
func CloseCode(code string) int {
	if v, ok := codeTable[code]; ok {
		return v.close
	}
	return CloseInternalError
}
