package cacherules_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"livecommerce/cdn-config/cacherules"
	"livecommerce/cdn-config/cftest"
)

const (
	zoneID = "023e105f4ecef8ad9ca31a8372d0c353"
	token  = "test-token"
)

func newClient(t *testing.T, api *cftest.Server, retries int) *cacherules.Client {
	t.Helper()
	c, err := cacherules.New(cacherules.Config{
		Token: token, ZoneID: zoneID, APIURL: api.URL(), Retries: retries, RequestsPerSecond: 1000,
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func TestDesiredRules(t *testing.T) {
	rules := cacherules.Desired()
	var refs []string
	for _, r := range rules {
		refs = append(refs, r.Ref)
		if !strings.HasPrefix(r.Ref, cacherules.RefPrefix) {
			t.Errorf("rule %s lacks the prefix %s", r.Ref, cacherules.RefPrefix)
		}
	}
	if got, want := strings.Join(refs, ","), "lc-bypass-purchases,lc-bypass-orders,lc-bypass-admin,lc-bypass-events,lc-stock-reads"; got != want {
		t.Errorf("got rules %s, want %s", got, want)
	}
	stock := rules[len(rules)-1].ActionParameters
	if !stock.Cache || stock.EdgeTTL.Mode != "respect_origin" || stock.BrowserTTL.Mode != "respect_origin" ||
		stock.ServeStale.DisableStaleWhileUpdating || !*stock.RespectStrongETags ||
		!stock.CacheKey.CustomKey.QueryString.Exclude.All {
		t.Errorf("stock read settings: got %+v", stock)
	}
	for _, r := range rules[:4] {
		if r.ActionParameters.Cache {
			t.Errorf("%s: got cache true, want a bypass", r.Ref)
		}
	}
}

func TestPlanFromNothing(t *testing.T) {
	p, err := cacherules.MakePlan(cacherules.Ruleset{}, cacherules.Desired())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(p.Changes), 5; got != want {
		t.Fatalf("got %d changes, want %d", got, want)
	}
	for _, c := range p.Changes {
		if c.Op != cacherules.OpAdd {
			t.Errorf("%s: got %s, want add", c.Ref, c.Op)
		}
	}
	if p.Empty() {
		t.Error("got an empty plan")
	}
}

func TestPlanRejectsBadCurrentRules(t *testing.T) {
	tests := map[string]string{
		"not an object": `"x"`,
		"null":          `null`,
	}
	for name, raw := range tests {
		cur := cacherules.Ruleset{Exists: true, Rules: []json.RawMessage{json.RawMessage(raw)}}
		if _, err := cacherules.MakePlan(cur, cacherules.Desired()); err == nil {
			t.Errorf("%s: got nil error", name)
		}
	}
	dup := json.RawMessage(`{"ref":"lc-x","expression":"true","action":"set_cache_settings"}`)
	cur := cacherules.Ruleset{Exists: true, Rules: []json.RawMessage{dup, dup}}
	if _, err := cacherules.MakePlan(cur, cacherules.Desired()); err == nil {
		t.Error("duplicate owned ref: got nil error")
	}
}

func TestClientRoundTrip(t *testing.T) {
	api := cftest.New(t, zoneID, token)
	c := newClient(t, api, 0)
	ctx := context.Background()
	cur, err := c.Entrypoint(ctx)
	if err != nil || cur.Exists {
		t.Fatalf("Entrypoint on an empty zone: got %+v, %v; want no ruleset", cur, err)
	}
	p, err := cacherules.MakePlan(cur, cacherules.Desired())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(ctx, "", "", p.Rules); err != nil {
		t.Fatalf("Write: %v", err)
	}
	cur, err = c.Entrypoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p, err = cacherules.MakePlan(cur, cacherules.Desired())
	if err != nil {
		t.Fatal(err)
	}
	if !p.Empty() {
		t.Errorf("plan after apply: got %+v, want empty", p.Changes)
	}
}

func TestFakeRejectsPutWithoutRules(t *testing.T) {
	api := cftest.New(t, zoneID, token)
	c := newClient(t, api, 0)
	// Write sends [] for nil; a body without "rules" is only possible by
	// hand, so check the fake through a nil-free call and a raw request.
	if _, err := c.Write(context.Background(), "", "", nil); err != nil {
		t.Fatalf("Write of no rules: %v", err)
	}
	req, _ := http.NewRequest(http.MethodPut, api.URL()+"/zones/"+zoneID+"/rulesets/phases/"+cacherules.Phase+"/entrypoint",
		strings.NewReader(`{"description":"x"}`))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusBadRequest {
		t.Errorf("PUT without rules: got %d, want 400", res.StatusCode)
	}
}

func TestRetriesServerErrors(t *testing.T) {
	api := cftest.New(t, zoneID, token)
	api.FailNext(http.StatusServiceUnavailable, "")
	c := newClient(t, api, 1)
	if _, err := c.Entrypoint(context.Background()); err != nil {
		t.Fatalf("got %v, want the retry to succeed", err)
	}
	if got := len(api.Requests()); got != 2 {
		t.Errorf("got %d requests, want 2", got)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	ok := cacherules.Config{Token: token, ZoneID: zoneID}
	tests := []struct {
		name string
		edit func(*cacherules.Config)
	}{
		{"empty token", func(c *cacherules.Config) { c.Token = "" }},
		{"token with space", func(c *cacherules.Config) { c.Token = "a b" }},
		{"token with newline", func(c *cacherules.Config) { c.Token = "a\nb" }},
		{"empty zone", func(c *cacherules.Config) { c.ZoneID = "" }},
		{"zone with slash", func(c *cacherules.Config) { c.ZoneID = "023e105f4ecef8ad9ca31a8372d0c35/" }},
		{"zone with dots", func(c *cacherules.Config) { c.ZoneID = "../023e105f4ecef8ad9ca31a8372d0c3" }},
		{"zone too long", func(c *cacherules.Config) { c.ZoneID = zoneID + "0" }},
		{"api url relative", func(c *cacherules.Config) { c.APIURL = "/client/v4" }},
		{"api url with fragment", func(c *cacherules.Config) { c.APIURL = "https://x.example/#a" }},
		{"negative retries", func(c *cacherules.Config) { c.Retries = -1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.edit(&c)
			_, err := cacherules.New(c)
			if !errors.Is(err, cacherules.ErrInvalidConfig) {
				t.Errorf("got %v, want ErrInvalidConfig", err)
			}
			if err != nil && c.Token != "" && strings.Contains(err.Error(), c.Token) {
				t.Errorf("error %q repeats the token", err)
			}
		})
	}
	if _, err := cacherules.New(ok); err != nil {
		t.Errorf("valid config: %v", err)
	}
}

func FuzzCheckZoneID(f *testing.F) {
	for _, s := range []string{zoneID, "", "../x", zoneID + "?a=b", strings.ToUpper(zoneID), "023e105f4ecef8ad9ca31a8372d0c35%2f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if cacherules.CheckZoneID(s) != nil {
			return
		}
		if len(s) != 32 || strings.Trim(s, "0123456789abcdef") != "" {
			t.Errorf("accepted zone id %q", s)
		}
	})
}
