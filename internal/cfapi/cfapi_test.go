package cfapi_test

import (
	"strings"
	"testing"

	"livecommerce/internal/cfapi"
)

const zone = "023e105f4ecef8ad9ca31a8372d0c353"

func TestCheckZoneID(t *testing.T) {
	if err := cfapi.CheckZoneID(zone); err != nil {
		t.Errorf("CheckZoneID(%q) = %v, want nil", zone, err)
	}
	for _, id := range []string{"", zone[:31], zone + "0", strings.ToUpper(zone), "../" + zone[3:], zone[:31] + "?", zone[:31] + "g"} {
		if err := cfapi.CheckZoneID(id); err == nil {
			t.Errorf("CheckZoneID(%q) = nil, want an error", id)
		}
	}
}

func TestCheckToken(t *testing.T) {
	if err := cfapi.CheckToken("abc-DEF_123"); err != nil {
		t.Errorf("CheckToken(valid) = %v", err)
	}
	for _, tok := range []string{"", "a b", "tok\nX-Evil: 1", "tök", "tab\t"} {
		err := cfapi.CheckToken(tok)
		if err == nil {
			t.Errorf("CheckToken(%q) = nil, want an error", tok)
		} else if tok != "" && strings.Contains(err.Error(), tok) {
			t.Errorf("CheckToken error %q repeats the token", err)
		}
	}
}

func TestCheckURL(t *testing.T) {
	got, err := cfapi.CheckURL("http://127.0.0.1:8080/client/v4/")
	if err != nil || got != "http://127.0.0.1:8080/client/v4" {
		t.Errorf("CheckURL = %q, %v; want the URL without its trailing slash", got, err)
	}
	for _, raw := range []string{"", "ftp://x", "https://", "https://u:p@api.example", "https://api.example/?q=1", "https://api.example/#f", "mailto:x@y", "::"} {
		if _, err := cfapi.CheckURL(raw); err == nil {
			t.Errorf("CheckURL(%q) = nil error, want one", raw)
		}
	}
}

func FuzzCheckZoneID(f *testing.F) {
	f.Add(zone)
	f.Add("../")
	f.Fuzz(func(t *testing.T, id string) {
		if cfapi.CheckZoneID(id) != nil {
			return
		}
		if len(id) != 32 || strings.ContainsAny(id, "/?#.%") {
			t.Fatalf("accepted %q", id)
		}
	})
}
