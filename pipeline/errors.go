package pipeline

import (
	"errors"
	"fmt"
	"time"
)

// PermanentError marks a failure that retrying cannot fix (a 4xx contract
// error, invalid data). The record goes straight to the dead-letter topic.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return "permanent: " + e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent wraps err as a PermanentError.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

// Permanentf is Permanent(fmt.Errorf(...)).
func Permanentf(format string, args ...any) error {
	return &PermanentError{Err: fmt.Errorf(format, args...)}
}

// RetryableError marks a transient failure (timeout, 5xx, 429). After, when
// set, is the earliest time the downstream asked to be called again
// (Retry-After).
type RetryableError struct {
	Err   error
	After time.Duration
}

func (e *RetryableError) Error() string {
	if e.After > 0 {
		return fmt.Sprintf("retryable (after %s): %s", e.After, e.Err)
	}
	return "retryable: " + e.Err.Error()
}
func (e *RetryableError) Unwrap() error { return e.Err }

// Retryable wraps err as a RetryableError with an optional Retry-After.
func Retryable(err error, after time.Duration) error {
	if err == nil {
		return nil
	}
	return &RetryableError{Err: err, After: after}
}

// IsPermanent reports whether err is classified permanent.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

// RetryAfter returns the Retry-After carried by err, if any.
func RetryAfter(err error) (time.Duration, bool) {
	var r *RetryableError
	if errors.As(err, &r) && r.After > 0 {
		return r.After, true
	}
	return 0, false
}
