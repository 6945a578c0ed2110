package cloudflare_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
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
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := cloudflare.New(tt.cfg)
			if err == nil || !errors.Is(err, cloudflare.ErrInvalidConfig) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an invalid configuration naming %s", err, tt.want)
			}
			if tt.cfg.Token != "" && strings.Contains(err.Error(), tt.cfg.Token) {
				t.Errorf("error %q repeats the token", err)
			}
		})
	}
}

func TestPurgeAnswers(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		header    string
		body      string
		wantErr   bool
		temporary bool
		wait      time.Duration
	}{
		{"ok", 200, "", `{"success":true,"errors":[]}`, false, false, 0},
		{"200 without success", 200, "", `{"success":false}`, true, true, 0},
		{"200 not json", 200, "", `<html>`, true, true, 0},
		{"429 seconds", 429, "7", `{"success":false,"errors":[{"code":10000,"message":"rate"}]}`, true, true, 7 * time.Second},
		{"429 absurd", 429, "999999", `{}`, true, true, 10 * time.Minute},
		{"429 no header", 429, "", `{}`, true, true, 0},
		{"503", 503, "", `{}`, true, true, 0},
		{"403", 403, "", `{"success":false,"errors":[{"code":10000,"message":"auth"}]}`, true, true, 0},
		{"400", 400, "", `{"success":false,"errors":[{"code":1,"message":"bad"}]}`, true, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
