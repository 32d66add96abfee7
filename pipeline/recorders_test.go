package pipeline

import (
	"context"
	"errors"
	"testing"
)

type countingRecorder struct{ n int }

func (r *countingRecorder) Record(Outcome) { r.n++ }

type flushingRecorder struct {
	countingRecorder
	flushes int
	err     error
}

func (r *flushingRecorder) Flush(context.Context) error { r.flushes++; return r.err }

func TestRecordersRecordToAllAndFlushTheBufferingOnes(t *testing.T) {
	plain := &countingRecorder{}
	ok := &flushingRecorder{}
	broken := &flushingRecorder{err: errors.New("broker away")}
	rs := Recorders{plain, ok, broken}
	rs.Record(Outcome{EventID: "e"})
	if plain.n != 1 || ok.n != 1 || broken.n != 1 {
		t.Fatalf("records: %d %d %d", plain.n, ok.n, broken.n)
	}
	if err := rs.Flush(t.Context()); !errors.Is(err, broken.err) {
		t.Fatalf("Flush = %v, want the failing recorder's error", err)
	}
	if ok.flushes != 1 || broken.flushes != 1 {
		t.Fatalf("flushes: %d %d", ok.flushes, broken.flushes)
	}
}
