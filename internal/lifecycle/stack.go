package lifecycle

import (
	"context"
	"errors"
)

// Stack collects the Close functions of what a constructor opened, so that
// a failure halfway closes what was opened so far, last first, and success
// hands the whole stack to a Part's Close.
type Stack []func(ctx context.Context) error

// Push adds a Close function.
func (s *Stack) Push(fn func(ctx context.Context) error) { *s = append(*s, fn) }

// Close calls every Close function, last pushed first, and joins their
// errors.
func (s Stack) Close(ctx context.Context) error {
	var err error
	for i := len(s) - 1; i >= 0; i-- {
		err = errors.Join(err, s[i](ctx))
	}
	return err
}
