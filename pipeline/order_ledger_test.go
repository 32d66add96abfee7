package pipeline_test

import (
	"sync"
	"testing"

	"github.com/shopstream/shopstream/pipeline"
	"github.com/shopstream/shopstream/pipeline/pipelinetest"
)

func TestMemoryOrderLedgerConformance(t *testing.T) {
	var mu sync.Mutex
	ledgers := map[string]*pipeline.MemoryOrderLedger{}
	pipelinetest.LedgerConformance(t, func(t *testing.T, name string) pipeline.OrderLedger {
		// One ledger per (test, name): a reopen sees the same state, as a
		// process restarted over the same durable store would.
		mu.Lock()
		defer mu.Unlock()
		key := t.Name() + "\x00" + name
		if l, ok := ledgers[key]; ok {
			return l
		}
		l := pipeline.NewMemoryOrderLedger()
		ledgers[key] = l
		return l
	})
}
