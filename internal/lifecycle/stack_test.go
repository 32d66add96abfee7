package lifecycle

import (
	"context"
	"errors"
	"slices"
	"testing"
)

func TestStackClosesLastFirstAndJoinsErrors(t *testing.T) {
	var order []string
	e1, e3 := errors.New("one"), errors.New("three")
	var s Stack
	s.Push(func(context.Context) error { order = append(order, "1"); return e1 })
	s.Push(func(context.Context) error { order = append(order, "2"); return nil })
	s.Push(func(context.Context) error { order = append(order, "3"); return e3 })
	err := s.Close(t.Context())
	if !slices.Equal(order, []string{"3", "2", "1"}) {
		t.Fatalf("order = %q", order)
	}
	if !errors.Is(err, e1) || !errors.Is(err, e3) {
		t.Fatalf("err = %v, want both failures", err)
	}
	if err := (Stack{}).Close(t.Context()); err != nil {
		t.Fatalf("empty stack: %v", err)
	}
}
