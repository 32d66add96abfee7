package evershop

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/shopstream/shopstream/connectors/evershop/evershoptest"
	"github.com/shopstream/shopstream/pipeline"
)

const (
	adminEmail    = "admin@shop.test"
	adminPassword = "s3cret"
)

func catalog(n int) []json.RawMessage {
	items := make([]json.RawMessage, n)
	for i := range n {
		items[i] = evershoptest.Product(int64(i+1), "SKU", "Product", 9.5)
	}
	return items
}

// fakeClock moves only when the client sleeps, so a test never waits.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testClient returns a client on a fake clock whose 429 waits are recorded.
func testClient(t *testing.T, fake *evershoptest.Server, mutate ...func(*Config)) (*Client, *[]time.Duration) {
	t.Helper()
	cfg := Config{BaseURL: fake.URL, Email: adminEmail, Password: adminPassword, PageSize: 500,
		RequestsPerMinute: 120, Timeout: 2 * time.Second}
	for _, m := range mutate {
		m(&cfg)
	}
	c, err := New(cfg, fake.Client(), nil)
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{t: time.Now()}
	c.now, c.limiter.now = clock.now, clock.now
	c.limiter.sleep = func(ctx context.Context, d time.Duration) error { clock.advance(d); return ctx.Err() }
	slept := &[]time.Duration{}
	c.sleep = func(ctx context.Context, d time.Duration) error {
		clock.mu.Lock()
		*slept = append(*slept, d)
		clock.mu.Unlock()
		clock.advance(d)
		return ctx.Err()
	}
	return c, slept
}

func ids(t *testing.T, c *Client) ([]int64, error) {
	t.Helper()
	var out []int64
	err := c.RawProducts(t.Context(), func(item json.RawMessage) error {
		var p struct{ ProductID int64 }
		if err := json.Unmarshal(item, &p); err != nil {
			return err
		}
		out = append(out, p.ProductID)
		return nil
	})
	return out, err
}

func TestProductsPaging(t *testing.T) {
	tests := []struct {
		name      string
		products  int
		pageSize  int
		wantPages []string
	}{
		{"several pages, last one short", 1234, 500, []string{"1/500", "2/500", "3/500"}},
		{"exact multiple stops on total", 1000, 500, []string{"1/500", "2/500"}},
		{"one short page", 3, 500, []string{"1/500"}},
		{"empty catalog", 0, 500, []string{"1/500"}},
		{"configurable page size", 5, 2, []string{"1/2", "2/2", "3/2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := evershoptest.Start(t, adminEmail, adminPassword)
			fake.SetProducts(catalog(tt.products))
			c, _ := testClient(t, fake, func(cfg *Config) { cfg.PageSize = tt.pageSize })
			got, err := ids(t, c)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tt.products {
				t.Fatalf("%d products, want %d", len(got), tt.products)
			}
			for i, id := range got {
				if id != int64(tt.products-i) {
					t.Fatalf("item %d is product %d, want %d (product_id DESC)", i, id, tt.products-i)
				}
			}
			if pages := fake.PagesServed(); !equal(pages, tt.wantPages) {
				t.Errorf("pages %v, want %v", pages, tt.wantPages)
			}
			if fake.Requests(evershoptest.PathLogin) != 1 {
				t.Errorf("%d logins, want 1", fake.Requests(evershoptest.PathLogin))
			}
			if v := fake.Violations(); len(v) > 0 {
				t.Errorf("violations: %q", v)
			}
		})
	}
}

func TestProductsTokens(t *testing.T) {
	tests := []struct {
		name                    string
		between                 func(*evershoptest.Server)
		wantLogins, wantRefresh int
		wantErr                 func(error) bool
	}{
		{"token reused while valid", func(*evershoptest.Server) {}, 1, 0, nil},
		{"401 refreshes once", (*evershoptest.Server).ExpireTokens, 1, 1, nil},
		{"refused refresh logs in again", func(f *evershoptest.Server) { f.ExpireTokens(); f.ExpireRefreshTokens() }, 2, 1, nil},
		{"second 401 is permanent", func(f *evershoptest.Server) {
			f.FailPathNext(evershoptest.PathGraphQL, 2, http.StatusUnauthorized, "")
		}, 1, 1, pipeline.IsPermanent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := evershoptest.Start(t, adminEmail, adminPassword)
			fake.SetProducts(catalog(3))
			c, _ := testClient(t, fake)
			if _, err := ids(t, c); err != nil {
				t.Fatal(err)
			}
			tt.between(fake)
			_, err := ids(t, c)
			if tt.wantErr == nil && err != nil || tt.wantErr != nil && !tt.wantErr(err) {
				t.Fatalf("err = %v", err)
			}
			if l, r := fake.Requests(evershoptest.PathLogin), fake.Requests(evershoptest.PathRefresh); l != tt.wantLogins || r != tt.wantRefresh {
				t.Errorf("logins %d refreshes %d, want %d and %d", l, r, tt.wantLogins, tt.wantRefresh)
			}
			if v := fake.Violations(); len(v) > 0 {
				t.Errorf("violations: %q", v)
			}
		})
	}
}

// Tokens about to expire are refreshed before use, not after a 401.
func TestProductsRefreshesBeforeExpiry(t *testing.T) {
	fake := evershoptest.Start(t, adminEmail, adminPassword)
	fake.SetProducts(catalog(5))
	fake.SetTokenTTL(30 * time.Second) // inside RefreshBefore (1 min)
	c, _ := testClient(t, fake, func(cfg *Config) { cfg.PageSize = 2 })
	if _, err := ids(t, c); err != nil {
		t.Fatal(err)
	}
	if r, g := fake.Requests(evershoptest.PathRefresh), fake.Requests(evershoptest.PathGraphQL); r != 2 || g != 3 {
		t.Errorf("refreshes %d graphql %d, want 2 and 3 (no 401 round trips)", r, g)
	}
}

func TestProductsErrors(t *testing.T) {
	tests := []struct {
		name      string
		setup     func(*evershoptest.Server)
		mutate    func(*Config)
		permanent bool
		after     time.Duration
		wantSlept []time.Duration
		wantOK    bool
	}{
		{name: "5xx is retryable", setup: func(f *evershoptest.Server) { f.FailPathNext(evershoptest.PathGraphQL, 1, 502, "") }},
		{name: "503 with Retry-After", setup: func(f *evershoptest.Server) { f.FailPathNext(evershoptest.PathGraphQL, 1, 503, "30") }, after: 30 * time.Second},
		{name: "outage is retryable", setup: func(f *evershoptest.Server) { f.SetDown(true) }},
		{name: "400 is permanent", setup: func(f *evershoptest.Server) { f.FailPathNext(evershoptest.PathGraphQL, 1, 400, "") }, permanent: true},
		{name: "wrong password is permanent", mutate: func(c *Config) { c.Password = "nope" }, permanent: true},
		{name: "graphql errors are permanent", setup: func(f *evershoptest.Server) { f.GraphQLErrorNext(1, `Cannot query field "foo"`) }, permanent: true},
		{name: "429 is waited out and the listing continues", setup: func(f *evershoptest.Server) { f.RateLimitNext(2, 3*time.Second) },
			wantSlept: []time.Duration{3 * time.Second, 3 * time.Second}, wantOK: true},
		{name: "429 longer than MaxRateLimitWait is retryable with After",
			setup:  func(f *evershoptest.Server) { f.RateLimitNext(1, 10*time.Minute) },
			mutate: func(c *Config) { c.MaxRateLimitWait = time.Minute }, after: 10 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := evershoptest.Start(t, adminEmail, adminPassword)
			fake.SetProducts(catalog(3))
			if tt.setup != nil {
				tt.setup(fake)
			}
			mutate := func(*Config) {}
			if tt.mutate != nil {
				mutate = tt.mutate
			}
			c, slept := testClient(t, fake, mutate)
			got, err := ids(t, c)
			if tt.wantOK {
				if err != nil || len(got) != 3 {
					t.Fatalf("got %v err %v", got, err)
				}
			} else if err == nil || pipeline.IsPermanent(err) != tt.permanent {
				t.Fatalf("err = %v, want permanent=%v", err, tt.permanent)
			}
			if after, _ := pipeline.RetryAfter(err); after != tt.after {
				t.Errorf("RetryAfter = %s, want %s", after, tt.after)
			}
			if !equal(*slept, tt.wantSlept) {
				t.Errorf("slept %v, want %v", *slept, tt.wantSlept)
			}
			if v := fake.Violations(); len(v) > 0 {
				t.Errorf("violations: %q", v)
			}
		})
	}
}

func TestProductsCallbackAndLiveChanges(t *testing.T) {
	t.Run("callback error stops the listing", func(t *testing.T) {
		fake := evershoptest.Start(t, adminEmail, adminPassword)
		fake.SetProducts(catalog(10))
		c, _ := testClient(t, fake, func(cfg *Config) { cfg.PageSize = 2 })
		stop := errors.New("disk full")
		n := 0
		err := c.RawProducts(t.Context(), func(json.RawMessage) error {
			if n++; n == 3 {
				return stop
			}
			return nil
		})
		if !errors.Is(err, stop) || fake.Requests(evershoptest.PathGraphQL) != 2 {
			t.Fatalf("err = %v after %d pages", err, fake.Requests(evershoptest.PathGraphQL))
		}
	})
	t.Run("a product created mid-listing does not repeat one", func(t *testing.T) {
		fake := evershoptest.Start(t, adminEmail, adminPassword)
		fake.SetProducts(catalog(6))
		c, _ := testClient(t, fake, func(cfg *Config) { cfg.PageSize = 2 })
		var once sync.Once
		seen := map[int64]int{}
		err := c.RawProducts(t.Context(), func(item json.RawMessage) error {
			once.Do(func() { fake.Upsert(evershoptest.Product(100, "NEW", "New", 1)) })
			var p struct{ ProductID int64 }
			_ = json.Unmarshal(item, &p)
			seen[p.ProductID]++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for id := int64(1); id <= 6; id++ {
			if seen[id] != 1 {
				t.Errorf("product %d seen %d times", id, seen[id])
			}
		}
	})
}

func equal[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestProductsTimesOutPerRequest(t *testing.T) {
	fake := evershoptest.Start(t, adminEmail, adminPassword)
	fake.SetLatency(2 * time.Second) // 40x the client timeout: a loaded machine cannot make it answer first
	c, _ := testClient(t, fake, func(cfg *Config) { cfg.Timeout = 50 * time.Millisecond })
	if _, err := ids(t, c); err == nil || pipeline.IsPermanent(err) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want retryable deadline exceeded", err)
	}
}

func TestProductsParsesAndSkipsWhatItCannotParse(t *testing.T) {
	fake := evershoptest.Start(t, adminEmail, adminPassword)
	fake.SetProducts([]json.RawMessage{
		evershoptest.Product(3, "SKU-3", "Three", 3),
		json.RawMessage(`{"productId":2,"uuid":"u2","sku":{"not":"text"}}`),
		evershoptest.Product(1, "SKU-1", "One", 1),
	})
	c, _ := testClient(t, fake)
	var got []string
	err := c.Products(t.Context(), func(p pipeline.Product) error {
		got = append(got, p.SKU)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !equal(got, []string{"SKU-3", "SKU-1"}) {
		t.Fatalf("products = %q, want the two parseable ones", got)
	}
}
