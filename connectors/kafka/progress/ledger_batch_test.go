package progress

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/shopstream/shopstream/connectors/kafka"
	"github.com/shopstream/shopstream/connectors/kafka/kafkatest"
	"github.com/shopstream/shopstream/pipeline"
)

// TestClaimBatchWritesEachOrdersLastClaim: a run's claims reach the topic
// as one record per order, its last Send of the run, and a reload decides
// over them.
func TestClaimBatchWritesEachOrdersLastClaim(t *testing.T) {
	kcfg := fakeCluster(t)
	tp := &topics{t: t, kcfg: kcfg, made: map[string]string{}}
	topic := tp.topic("batch")
	l := openLedger(t, kcfg, topic)
	var steps []pipeline.OrderStep
	for i := range 10 {
		steps = append(steps, step(fmt.Sprint(2000+i), fmt.Sprint("p", i), "processing", 0))
	}
	steps = append(steps, step("2000", "s0", "shipped", 60), step("2001", "old", "new", 0))
	got, err := l.ClaimBatch(t.Context(), steps)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprint(append(repeat(pipeline.OrderSend, 11), pipeline.OrderSuperseded))
	if fmt.Sprint(got) != want {
		t.Fatalf("verdicts %v, want %s", got, want)
	}
	recs := readAll(t, kcfg, topic)
	if len(recs) != 10 {
		t.Fatalf("%d records written, want 10 (one per order)", len(recs))
	}
	for _, r := range recs {
		c, err := DecodeClaim(string(r.Key), r.Value)
		if err != nil {
			t.Fatal(err)
		}
		if string(r.Key) == "2000" && c.EventID != "s0" {
			t.Fatalf("order 2000's record claims %s, want s0 (its last send of the run)", c.EventID)
		}
	}
	fresh := openLedger(t, kcfg, topic)
	if v, err := fresh.Claim(t.Context(), step("2000", "p0", "processing", 0)); err != nil || v != pipeline.OrderSuperseded {
		t.Fatalf("after reload, p0 = %s, %v; want superseded", v, err)
	}
}

func repeat(v pipeline.OrderVerdict, n int) []pipeline.OrderVerdict {
	out := make([]pipeline.OrderVerdict, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// TestClaimBatchFailsWhenTheWriteFails: the broker refuses the run's
// write; ClaimBatch reports an error (the processor then sends nothing),
// memory keeps the old claims, and the run claimed again gets its sends.
func TestClaimBatchFailsWhenTheWriteFails(t *testing.T) {
	c := kafkatest.Fake(t)
	kcfg := kafka.DefaultConfig()
	kcfg.Brokers = c.ListenAddrs()
	kcfg.ClientIDPrefix = "progress-test"
	tp := &topics{t: t, kcfg: kcfg, made: map[string]string{}}
	topic := tp.topic("refused")
	l := openLedger(t, kcfg, topic)
	if v, err := l.Claim(t.Context(), step("3000", "e1", "processing", 0)); err != nil || v != pipeline.OrderSend {
		t.Fatalf("first claim = %s, %v", v, err)
	}
	var refuse atomic.Bool
	refuse.Store(true)
	c.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if !refuse.Load() {
			return nil, nil, false
		}
		pr := req.(*kmsg.ProduceRequest)
		resp := pr.ResponseKind().(*kmsg.ProduceResponse)
		for _, rt := range pr.Topics {
			st := kmsg.NewProduceResponseTopic()
			st.Topic, st.TopicID = rt.Topic, rt.TopicID
			for _, rp := range rt.Partitions {
				sp := kmsg.NewProduceResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = kerr.PolicyViolation.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	run := []pipeline.OrderStep{step("3000", "e2", "shipped", 60), step("3001", "e3", "new", 0)}
	if v, err := l.ClaimBatch(t.Context(), run); err == nil {
		t.Fatalf("ClaimBatch with the write refused = %v, want an error", v)
	} else if !errors.Is(err, kerr.PolicyViolation) {
		t.Fatalf("ClaimBatch error %v, want the broker's refusal", err)
	}
	cur, ok, err := l.current("3000")
	if err != nil || !ok || cur.EventID != "e1" {
		t.Fatalf("order 3000's claim after the refused write = %+v %v %v; want e1", cur, ok, err)
	}
	refuse.Store(false)
	got, err := l.ClaimBatch(t.Context(), run)
	if err != nil || fmt.Sprint(got) != fmt.Sprint(repeat(pipeline.OrderSend, 2)) {
		t.Fatalf("ClaimBatch again = %v, %v; want two sends", got, err)
	}
}
