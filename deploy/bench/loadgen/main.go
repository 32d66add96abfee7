// Command loadgen is the ingress benchmark's load generator (run by
// deploy/bench/ingress.sh). It sends signed, distinct EverShop webhooks
// (every body is different, so every event id is) over a fixed number of
// keep-alive connections for a fixed time, and reports requests per second,
// p50, p99 and errors.
//
//	loadgen -url http://127.0.0.1:18080 -secret S [-conns 64] [-duration 15s]
//
// With -serve-noop ADDR it is instead the benchmark's ceiling: the same
// ingress.Server handler and HTTP stack as `shopstream serve`, with a
// publisher that accepts everything at once, until SIGINT or SIGTERM. It
// runs as a process of its own, as serve does, so both setups share the
// machine with the load generator the same way.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/shopstream/shopstream/deploy/bench/ceiling"
	"github.com/shopstream/shopstream/pipeline"
)

func main() {
	var (
		target   = flag.String("url", "http://127.0.0.1:8080", "ingress base URL")
		secret   = flag.String("secret", os.Getenv("EVERSHOP_WEBHOOK_SECRET"), "webhook secret (default $EVERSHOP_WEBHOOK_SECRET)")
		conns    = flag.Int("conns", 64, "concurrent keep-alive connections, one request in flight on each")
		duration = flag.Duration("duration", 15*time.Second, "measured time")
		warmup   = flag.Duration("warmup", 2*time.Second, "unmeasured time before it (connections, broker metadata, CPU caches)")
		label    = flag.String("label", "", "setup name printed in the result line")
		noop     = flag.String("serve-noop", "", "instead of sending load, serve the ingress with a no-op publisher on this address")
	)
	flag.Parse()
	secrets, err := pipeline.ParseSecrets(*secret)
	if err != nil {
		fail("-secret: %v", err)
	}
	if *noop != "" {
		if err := serveNoop(*noop, secrets); err != nil {
			fail("%v", err)
		}
		return
	}
	if *conns < 1 || *duration <= 0 || *warmup < 0 {
		fail("-conns must be at least 1 and -duration positive")
	}
	res, err := run(strings.TrimRight(*target, "/"), secrets[0], *conns, *warmup, *duration)
	if err != nil {
		fail("%v", err)
	}
	name := *label
	if name == "" {
		name = *target
	}
	fmt.Fprintf(os.Stderr, "loadgen: %s: %d requests in %s over %d connections: %.0f req/s, p50 %s, p99 %s, max %s, %d errors %v\n",
		name, res.ok, res.elapsed.Round(time.Millisecond), *conns, res.rps(), res.p(0.50), res.p(0.99), res.p(1), res.errors, res.byStatus)
	// The line deploy/bench/ingress.sh turns into a table row.
	fmt.Printf("%s\t%.1f\t%.2f\t%.2f\t%d\t%d\n", name, res.rps(), ms(res.p(0.50)), ms(res.p(0.99)), res.errors, res.ok)
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "loadgen: "+format+"\n", args...)
	os.Exit(1)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

type result struct {
	ok, errors int
	byStatus   map[string]int // non-200 outcomes
	latencies  []time.Duration
	elapsed    time.Duration
}

func (r result) rps() float64 { return float64(r.ok) / r.elapsed.Seconds() }

// p is the nearest-rank percentile of the latencies of 200 responses.
func (r result) p(q float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	return r.latencies[int(q*float64(len(r.latencies)-1)+0.5)]
}

// run drives conns workers, each a closed loop of one request at a time on
// its own keep-alive connection, for warmup+duration, and measures the
// requests that start after the warmup.
func run(base string, secret pipeline.Secret, conns int, warmup, duration time.Duration) (result, error) {
	tr := &http.Transport{
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}

	// One request first: a wrong secret or a missing topic should be one
	// clear message, not 64 workers' worth of errors.
	kind, body := webhook(0, 0)
	if status, err := send(client, base, secret, kind, body); err != nil || status != http.StatusOK {
		return result{}, fmt.Errorf("preflight request to %s: status %d, %v", base, status, err)
	}

	start := time.Now()
	measureFrom, end := start.Add(warmup), start.Add(warmup+duration)
	type workerResult struct {
		lat      []time.Duration
		errors   int
		byStatus map[string]int
		last     time.Time
	}
	results := make([]workerResult, conns)
	var wg sync.WaitGroup
	for w := range conns {
		wg.Go(func() {
			wr := workerResult{lat: make([]time.Duration, 0, 1<<14), byStatus: map[string]int{}}
			for i := 1; ; i++ {
				t0 := time.Now()
				if !t0.Before(end) {
					break
				}
				kind, body := webhook(w+1, i)
				status, err := send(client, base, secret, kind, body)
				t1 := time.Now()
				if t0.Before(measureFrom) {
					continue
				}
				wr.last = t1
				switch {
				case err != nil:
					wr.errors++
					wr.byStatus[errKind(err)]++
				case status != http.StatusOK:
					wr.errors++
					wr.byStatus[strconv.Itoa(status)]++
				default:
					wr.lat = append(wr.lat, t1.Sub(t0))
				}
			}
			results[w] = wr
		})
	}
	wg.Wait()

	res := result{byStatus: map[string]int{}}
	last := end
	for _, wr := range results {
		res.latencies = append(res.latencies, wr.lat...)
		res.errors += wr.errors
		for k, v := range wr.byStatus {
			res.byStatus[k] += v
		}
		if wr.last.After(last) {
			last = wr.last
		}
	}
	res.ok = len(res.latencies)
	res.elapsed = last.Sub(measureFrom)
	slices.Sort(res.latencies)
	if res.ok == 0 {
		return res, fmt.Errorf("no request succeeded in the measured window (%d errors: %v)", res.errors, res.byStatus)
	}
	return res, nil
}

func errKind(err error) string {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	return "transport"
}

// webhook returns the endpoint kind and body of request i of worker w:
// order updates, product updates and new customers in a 3:2:1 mix, every
// body distinct (seq), in the shapes of testdata/webhooks.
func webhook(w, i int) (pipeline.Kind, []byte) {
	seq := int64(w)<<32 | int64(i)
	ts := time.Date(2026, 11, 21, 15, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Millisecond).Format(time.RFC3339Nano)
	switch i % 6 {
	case 0, 1, 2:
		order := 1000 + (w*7919+i)%5000
		statuses := []string{"pending", "processing", "shipped", "delivered", "completed"}
		return pipeline.KindOrder, fmt.Appendf(nil, `{"event":"order.updated","timestamp":%q,"data":{"order_id":%d,"uuid":"0e6c2a8e-5d0b-4d77-a1c9-%012d","order_number":"%d","customer_id":%d,"customer_email":"customer%d@example.com","customer_full_name":"Ana Lima","status":%q,"previous_status":"new","payment_status":"paid","shipment_status":"shipped","previous_shipment_status":"pending","updated_at":%q,"seq":%d}}`,
			ts, order, order, 10000+order, order%900, order%900, statuses[i%len(statuses)], ts, seq)
	case 3, 4:
		product := 1 + (w*104729+i)%2000
		return pipeline.KindProduct, fmt.Appendf(nil, `{"event":"product.updated","timestamp":%q,"data":{"product_id":%d,"uuid":"5b1f9a52-7c1e-4a3e-9a57-%012d","type":"simple","visibility":true,"group_id":1,"sku":"SKU-%d","price":"%d.9000","weight":"0.2000","status":true,"updated_at":%q,"category_id":3,"seq":%d}}`,
			ts, product, product, product, 10+product%90, ts, seq)
	default:
		return pipeline.KindCustomer, fmt.Appendf(nil, `{"event":"customer.created","timestamp":%q,"data":{"customer_id":%d,"uuid":"a3b1c2d4-0000-4000-8000-%012d","status":1,"group_id":1,"email":"new%d@example.com","full_name":"New Customer","created_at":%q,"seq":%d}}`,
			ts, seq, seq%1_000_000_000_000, seq, ts, seq)
	}
}

func send(client *http.Client, base string, secret pipeline.Secret, kind pipeline.Kind, body []byte) (int, error) {
	req, err := http.NewRequest(http.MethodPost, base+"/api/webhooks/evershop/"+string(kind), bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(pipeline.HeaderEverShopSignature, pipeline.SignEverShop(secret, body))
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	// Read to the end so the connection goes back to the pool.
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, err
}

// serveNoop runs the ceiling (deploy/bench/ceiling) until SIGINT/SIGTERM.
func serveNoop(addr string, secrets []pipeline.Secret) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return ceiling.Serve(ctx, addr, secrets, "loadgen-ceiling")
}
