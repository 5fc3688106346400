package parley

import (
	"errors"
	"fmt"
	"time"
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
	// RetryAfter, on an ERateLimited error, says when trying again can
	// succeed; it reaches clients as retry_after_ms.
	RetryAfter time.Duration
}

// Error implements the error interface. It returns just the message, so
// that an error wrapped with context reads as one sentence; the code is
// for machines, through ErrorCode.
func (e *Error) Error() string {
	return e.Message
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

// RateLimited returns an ERateLimited *Error that tells the client to try
// again after retry.
func RateLimited(retry time.Duration, format string, args ...any) *Error {
	e := Errorf(ERateLimited, format, args...)
	e.RetryAfter = retry
	return e
}
