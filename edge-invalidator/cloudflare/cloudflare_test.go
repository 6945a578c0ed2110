package cloudflare_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"livecommerce/edge-invalidator/cloudflare"
)

const zoneID = "023e105f4ecef8ad9ca31a8372d0c353"

func TestNewRefusesBadSettings(t *testing.T) {
	tests := []struct {
		name string
		cfg  cloudflare.Config
		want string
	}{
		{"no token", cloudflare.Config{ZoneID: zoneID}, "CLOUDFLARE_API_TOKEN"},
		{"token with space", cloudflare.Config{Token: "a SECRET", ZoneID: zoneID}, "CLOUDFLARE_API_TOKEN"},
		{"zone path", cloudflare.Config{Token: "tok-SECRET", ZoneID: "../" + zoneID[3:]}, "CLOUDFLARE_ZONE_ID"},
		{"zone upper", cloudflare.Config{Token: "tok-SECRET", ZoneID: strings.ToUpper(zoneID)}, "CLOUDFLARE_ZONE_ID"},
		{"url query", cloudflare.Config{Token: "tok-SECRET", ZoneID: zoneID, APIURL: "https://x/?a=b"}, "CLOUDFLARE_API_URL"},
		{"url scheme", cloudflare.Config{Token: "tok-SECRET", ZoneID: zoneID, APIURL: "ftp://x"}, "CLOUDFLARE_API_URL"},
		{"url userinfo", cloudflare.Config{Token: "tok-SECRET", ZoneID: zoneID, APIURL: "https://u:hunter2@api.example.com"}, "CLOUDFLARE_API_URL"},
		{"url 10 KB", cloudflare.Config{Token: "tok-SECRET", ZoneID: zoneID, APIURL: "https://" + strings.Repeat("a", 10<<10)}, "CLOUDFLARE_API_URL"},
		{"purge by", cloudflare.Config{Token: "tok-SECRET", ZoneID: zoneID, PurgeBy: "files"}, "CLOUDFLARE_PURGE_BY"},
		{"urls without site", cloudflare.Config{Token: "tok-SECRET", ZoneID: zoneID, PurgeBy: cloudflare.ByURLs}, "CLOUDFLARE_SITE_URL"},
		{"site userinfo", cloudflare.Config{Token: "tok-SECRET", ZoneID: zoneID, PurgeBy: cloudflare.ByURLs, SiteURL: "https://u:tok-SECRET@shop.example.com"}, "CLOUDFLARE_SITE_URL"},
		{"site javascript", cloudflare.Config{Token: "tok-SECRET", ZoneID: zoneID, SiteURL: "javascript:alert(1)"}, "CLOUDFLARE_SITE_URL"},
		{"site path", cloudflare.Config{Token: "tok-SECRET", ZoneID: zoneID, SiteURL: "https://shop.example.com/api"}, "CLOUDFLARE_SITE_URL"},
		{"site query", cloudflare.Config{Token: "tok-SECRET", ZoneID: zoneID, SiteURL: "https://shop.example.com?"}, "CLOUDFLARE_SITE_URL"},
		{"site newline", cloudflare.Config{Token: "tok-SECRET", ZoneID: zoneID, SiteURL: "https://shop.example.com\n"}, "CLOUDFLARE_SITE_URL"},
		{"site 10 KB", cloudflare.Config{Token: "tok-SECRET", ZoneID: zoneID, SiteURL: "https://" + strings.Repeat("a", 10<<10)}, "CLOUDFLARE_SITE_URL"},
		{"timeout", cloudflare.Config{Token: "tok-SECRET", ZoneID: zoneID, Timeout: -time.Second}, "PURGE_CALL_TIMEOUT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := cloudflare.New(tt.cfg)
			if err == nil || !errors.Is(err, cloudflare.ErrInvalidConfig) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an invalid configuration naming %s", err, tt.want)
			}
			if tt.cfg.Token != "" && strings.Contains(err.Error(), tt.cfg.Token) || strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q repeats a secret", err)
			}
			if len(err.Error()) > 300 {
				t.Errorf("error is %d bytes long, want the value left out", len(err.Error()))
			}
		})
	}
}

func TestPurgeAnswers(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		header     string
		body       string
		wantErr    bool
		temporary  bool
		wait       time.Duration
		wantStatus int
		wantMsg    string
	}{
		{"ok", 200, "", `{"success":true,"errors":[]}`, false, false, 0, 0, ""},
		{"200 without success", 200, "", `{"success":false}`, true, true, 0, 502, "success is false"},
		{"200 not json", 200, "", `<html>`, true, true, 0, 502, ""},
		{"429 seconds", 429, "7", `{"success":false,"errors":[{"code":10000,"message":"rate"}]}`, true, true, 7 * time.Second, 429, "10000 rate"},
		{"429 absurd", 429, "999999", `{}`, true, true, 10 * time.Minute, 429, ""},
		{"429 no header", 429, "", `{}`, true, true, 0, 429, ""},
		{"503", 503, "", `{}`, true, true, 0, 503, ""},
		{"502 html", 502, "", `<html>bad gateway</html>`, true, true, 0, 502, ""},
		{"403", 403, "", `{"success":false,"errors":[{"code":10000,"message":"auth"}]}`, true, true, 0, 403, "10000 auth"},
		{"401", 401, "", `{"success":false,"errors":[{"code":10001,"message":"token"}]}`, true, true, 0, 401, "10001 token"},
		{"400", 400, "", `{"success":false,"errors":[{"code":1,"message":"bad"}]}`, true, false, 0, 400, "1 bad"},
		{"400 not json", 400, "", `<html>`, true, false, 0, 400, ""},
		{"404", 404, "", `{"success":false,"errors":[{"code":7003,"message":"no zone"}]}`, true, false, 0, 404, "7003 no zone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var requests atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				requests.Add(1)
				if got := r.Header.Get("Authorization"); got != "Bearer tok" {
					t.Errorf("got Authorization %q, want the bearer token", got)
				}
				b, _ := io.ReadAll(r.Body)
				if r.URL.Path != "/client/v4/zones/"+zoneID+"/purge_cache" || string(b) != `{"tags":["sku-A1","live-L1"]}` {
					t.Errorf("got %s %s, want the purge path and tags body", r.URL.Path, b)
				}
				if tt.header != "" {
					w.Header().Set("Retry-After", tt.header)
				}
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			c, err := cloudflare.New(cloudflare.Config{Token: "tok", ZoneID: zoneID, APIURL: srv.URL + "/client/v4/"})
			if err != nil {
				t.Fatal(err)
			}
			err = c.Purge(context.Background(), []string{"sku-A1", "live-L1"})
			if n := requests.Load(); n != 1 {
				t.Errorf("got %d requests, want exactly one attempt", n)
			}
			if (err != nil) != tt.wantErr {
				t.Fatalf("got %v, want error %v", err, tt.wantErr)
			}
			if err == nil {
				return
			}
			var cfErr *cloudflare.Error
			if !errors.As(err, &cfErr) {
				t.Fatalf("got %T, want *cloudflare.Error", err)
			}
			if cfErr.Temporary() != tt.temporary || cfErr.Wait() != tt.wait {
				t.Errorf("got temporary %v wait %v, want %v %v", cfErr.Temporary(), cfErr.Wait(), tt.temporary, tt.wait)
			}
			if cfErr.Status != tt.wantStatus || !strings.Contains(cfErr.Message, tt.wantMsg) {
				t.Errorf("got status %d message %q, want %d and %q", cfErr.Status, cfErr.Message, tt.wantStatus, tt.wantMsg)
			}
		})
	}
}

func TestPurgeNetworkErrorIsTemporary(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	c, err := cloudflare.New(cloudflare.Config{Token: "tok", ZoneID: zoneID, APIURL: url})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Purge(context.Background(), []string{"sku-A1"})
	var cfErr *cloudflare.Error
	if !errors.As(err, &cfErr) || !cfErr.Temporary() {
		t.Errorf("got %v, want a temporary *cloudflare.Error", err)
	}
}

func FuzzCheckZoneID(f *testing.F) {
	for _, s := range []string{zoneID, "", "../x", zoneID + "?", strings.ToUpper(zoneID)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if cloudflare.CheckZoneID(s) != nil {
			return
		}
		if len(s) != 32 || strings.Trim(s, "0123456789abcdef") != "" {
			t.Errorf("accepted zone id %q", s)
		}
	})
}

// api records the bodies of purge calls and answers success.
func api(t *testing.T, bodies chan<- string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/zones/"+zoneID+"/purge_cache" || r.Header.Get("Authorization") != "Bearer tok" {
			t.Errorf("got %s %s, want POST to the purge path with the bearer token", r.Method, r.URL.Path)
		}
		b, _ := io.ReadAll(r.Body)
		bodies <- string(b)
		io.WriteString(w, `{"success":true,"errors":[],"messages":[],"result":{"id":"x"}}`)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestPurgeByURL(t *testing.T) {
	bodies := make(chan string, 10)
	srv := api(t, bodies)
	for _, site := range []string{"https://shop.example.com", "https://shop.example.com/"} {
		c, err := cloudflare.New(cloudflare.Config{Token: "tok", ZoneID: zoneID, APIURL: srv.URL,
			PurgeBy: cloudflare.ByURLs, SiteURL: site})
		if err != nil {
			t.Fatal(err)
		}
		if got := c.MaxTags(); got != cloudflare.MaxURLs {
			t.Errorf("got batches of %d, want %d URLs", got, cloudflare.MaxURLs)
		}
		if err := c.Purge(context.Background(), []string{"sku-A1", "live-L_1", "sku-x-y"}); err != nil {
			t.Fatal(err)
		}
		want := `{"files":["https://shop.example.com/v1/products/A1/stock","https://shop.example.com/v1/lives/L_1/stock","https://shop.example.com/v1/products/x-y/stock"]}`
		if got := <-bodies; got != want {
			t.Errorf("got body %s, want %s", got, want)
		}
	}
}

func TestBadTagsNeverSent(t *testing.T) {
	bodies := make(chan string, 10)
	srv := api(t, bodies)
	tooMany := make([]string, cloudflare.MaxURLs+1)
	for i := range tooMany {
		tooMany[i] = "sku-S" + strings.Repeat("1", i+1)
	}
	for _, mode := range []cloudflare.Mode{cloudflare.ByTags, cloudflare.ByURLs} {
		c, err := cloudflare.New(cloudflare.Config{Token: "tok", ZoneID: zoneID, APIURL: srv.URL,
			PurgeBy: mode, SiteURL: "https://shop.example.com"})
		if err != nil {
			t.Fatal(err)
		}
		bad := [][]string{
			{"sku-"},
			{"item-A1"},
			{"sku-../../admin"},
			{"live-L1?x=1"},
			{"sku-A1/stock#"},
			{"sku-" + strings.Repeat("a", 65)},
			{"sku-A1", "everything"},
			{"sku-Ä"},
		}
		if mode == cloudflare.ByURLs {
			bad = append(bad, tooMany)
		}
		for _, tags := range bad {
			err := c.Purge(context.Background(), tags)
			var cfErr *cloudflare.Error
			if !errors.As(err, &cfErr) || cfErr.Temporary() || !errors.Is(err, cloudflare.ErrInvalidTags) {
				t.Errorf("%s %.40q: got %v, want a permanent ErrInvalidTags", mode, tags, err)
			}
		}
	}
	if len(bodies) != 0 {
		t.Errorf("got %d requests, want none", len(bodies))
	}
}

// hangingAPI accepts connections and never answers.
func hangingAPI(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		// The server notices a client hanging up only once the body is read.
		io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
	}))
	t.Cleanup(func() { srv.CloseClientConnections(); srv.Close() })
	return srv.URL
}

func TestHangingAPITimesOut(t *testing.T) {
	c, err := cloudflare.New(cloudflare.Config{Token: "tok", ZoneID: zoneID, APIURL: hangingAPI(t), Timeout: 150 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = c.Purge(context.Background(), []string{"sku-A1"})
	if took := time.Since(start); took > time.Second {
		t.Errorf("call took %v, want it cut at the 150ms timeout", took)
	}
	var cfErr *cloudflare.Error
	if !errors.As(err, &cfErr) || !cfErr.Temporary() || cfErr.Status != 0 || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v, want a temporary *cloudflare.Error without status wrapping the deadline", err)
	}
}

func TestConcurrentCallsKeepTheirOwnAnswers(t *testing.T) {
	// One call throttled, one refused, at the same time: each must see its
	// own status and Retry-After.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if strings.Contains(string(b), "sku-slow") {
			w.Header().Set("Retry-After", "4")
			w.WriteHeader(http.StatusTooManyRequests)
		} else {
			w.WriteHeader(http.StatusBadRequest)
		}
		io.WriteString(w, `{"success":false,"errors":[],"messages":[]}`)
	}))
	defer srv.Close()
	c, err := cloudflare.New(cloudflare.Config{Token: "tok", ZoneID: zoneID, APIURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	for range 20 {
		go func() {
			defer func() { done <- struct{}{} }()
			var cfErr *cloudflare.Error
			if err := c.Purge(context.Background(), []string{"sku-slow"}); !errors.As(err, &cfErr) || cfErr.Status != 429 || cfErr.Wait() != 4*time.Second {
				t.Errorf("throttled call: got %v", err)
			}
			if err := c.Purge(context.Background(), []string{"sku-bad"}); !errors.As(err, &cfErr) || cfErr.Status != 400 || cfErr.Wait() != 0 {
				t.Errorf("refused call: got %v", err)
			}
		}()
	}
	for range 20 {
		<-done
	}
}
