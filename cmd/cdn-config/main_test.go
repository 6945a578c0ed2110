package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"livecommerce/cdn-config/cftest"
)

const (
	zoneID = "023e105f4ecef8ad9ca31a8372d0c353"
	token  = "Sn3lZJTBX6kkg7OdcBUAxOO963GEIyGQqnFTOFYY"
)

// wantBody is the exact PUT body for a zone without Cache Rules.
const wantBody = `{"rules":[
{"ref":"lc-bypass-purchases","description":"lc: never cache purchases",
 "expression":"(http.request.uri.path eq \"/v1/purchases\" or starts_with(http.request.uri.path, \"/v1/purchases/\"))",
 "action":"set_cache_settings","action_parameters":{"cache":false},"enabled":true},
{"ref":"lc-bypass-orders","description":"lc: never cache orders (per buyer)",
 "expression":"(http.request.uri.path eq \"/v1/orders\" or starts_with(http.request.uri.path, \"/v1/orders/\"))",
 "action":"set_cache_settings","action_parameters":{"cache":false},"enabled":true},
{"ref":"lc-bypass-admin","description":"lc: never cache the merchant admin API",
 "expression":"(http.request.uri.path eq \"/admin\" or starts_with(http.request.uri.path, \"/admin/\"))",
 "action":"set_cache_settings","action_parameters":{"cache":false},"enabled":true},
{"ref":"lc-bypass-events","description":"lc: never cache the live stock event stream (SSE)",
 "expression":"(starts_with(http.request.uri.path, \"/v1/lives/\") and ends_with(http.request.uri.path, \"/events\"))",
 "action":"set_cache_settings","action_parameters":{"cache":false},"enabled":true},
{"ref":"lc-stock-reads","description":"lc: stock reads, TTLs from the origin's CDN-Cache-Control",
 "expression":"(http.request.method eq \"GET\" and ((starts_with(http.request.uri.path, \"/v1/products/\") and ends_with(http.request.uri.path, \"/stock\")) or (starts_with(http.request.uri.path, \"/v1/lives/\") and ends_with(http.request.uri.path, \"/stock\"))))",
 "action":"set_cache_settings",
 "action_parameters":{"cache":true,"edge_ttl":{"mode":"respect_origin"},"browser_ttl":{"mode":"respect_origin"},
  "serve_stale":{"disable_stale_while_updating":false},"respect_strong_etags":true,
  "cache_key":{"custom_key":{"query_string":{"exclude":{"all":true}}}}},
 "enabled":true}
]}`

type result struct {
	code           int
	stdout, stderr string
}

func env(api *cftest.Server, over map[string]string) func(string) string {
	m := map[string]string{
		"CLOUDFLARE_API_TOKEN": token,
		"CLOUDFLARE_ZONE_ID":   zoneID,
		"CDN_CONFIG_RETRIES":   "0",
	}
	if api != nil {
		m["CLOUDFLARE_API_URL"] = api.URL()
	}
	for k, v := range over {
		m[k] = v
	}
	return func(k string) string { return m[k] }
}

func runCmd(t *testing.T, getenv func(string) string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, &out, &errOut, getenv)
	r := result{code, out.String(), errOut.String()}
	if strings.Contains(r.stdout+r.stderr, token) {
		t.Fatalf("the token was printed:\n%s%s", r.stdout, r.stderr)
	}
	return r
}

func methods(reqs []cftest.Request) string {
	var s []string
	for _, r := range reqs {
		s = append(s, r.Method)
	}
	return strings.Join(s, ",")
}

func compact(t *testing.T, s string) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		t.Fatalf("compact: %v", err)
	}
	return b.String()
}

func TestApplyCreatesRulesetWithExactBody(t *testing.T) {
	api := cftest.New(t, zoneID, token)
	r := runCmd(t, env(api, nil), "apply")
	if r.code != 0 {
		t.Fatalf("apply: exit %d, stderr %s", r.code, r.stderr)
	}
	reqs := api.Requests()
	if got, want := methods(reqs), "GET,PUT"; got != want {
		t.Fatalf("got requests %s, want %s", got, want)
	}
	for _, req := range reqs {
		if req.Path != api.EntrypointPath() {
			t.Errorf("%s path: got %q, want %q", req.Method, req.Path, api.EntrypointPath())
		}
		if got, want := req.Authorization, "Bearer "+token; got != want {
			t.Errorf("%s Authorization: got %q, want the bearer token", req.Method, got)
		}
	}
	if got, want := string(reqs[1].Body), compact(t, wantBody); got != want {
		t.Errorf("PUT body:\ngot  %s\nwant %s", got, want)
	}
	for _, s := range []string{"(no ruleset yet)", "+ add lc-bypass-events", "+ add lc-stock-reads", "applied"} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("stdout lacks %q:\n%s", s, r.stdout)
		}
	}
}

func TestSecondApplyWritesNothing(t *testing.T) {
	api := cftest.New(t, zoneID, token)
	if r := runCmd(t, env(api, nil), "apply"); r.code != 0 {
		t.Fatalf("first apply: exit %d, stderr %s", r.code, r.stderr)
	}
	r := runCmd(t, env(api, nil), "apply")
	if r.code != 0 {
		t.Fatalf("second apply: exit %d, stderr %s", r.code, r.stderr)
	}
	if got, want := methods(api.Requests()), "GET,PUT,GET"; got != want {
		t.Errorf("got requests %s, want %s", got, want)
	}
	if !strings.Contains(r.stdout, "no changes") {
		t.Errorf("second apply: got %q, want it to say no changes", r.stdout)
	}
}

func TestPlanAndDryRunWriteNothing(t *testing.T) {
	for _, args := range [][]string{{"plan"}, {"apply", "--dry-run"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			api := cftest.New(t, zoneID, token)
			api.SetRules(t, `[{"ref":"lc-stock-reads","description":"old","expression":"true",
				"action":"set_cache_settings","action_parameters":{"cache":true,"edge_ttl":{"mode":"override_origin","default":60}},"enabled":true}]`)
			before := api.Rules(t)
			r := runCmd(t, env(api, nil), args...)
			if r.code != 0 {
				t.Fatalf("exit %d, stderr %s", r.code, r.stderr)
			}
			if got, want := methods(api.Requests()), "GET"; got != want {
				t.Errorf("got requests %s, want %s", got, want)
			}
			for _, s := range []string{
				"~ change lc-stock-reads",
				`-   "description": "old",`,
				`+       "mode": "respect_origin"`,
				`-       "mode": "override_origin"`,
				"+ add lc-bypass-purchases",
				"nothing written",
			} {
				if !strings.Contains(r.stdout, s) {
					t.Errorf("stdout lacks %q:\n%s", s, r.stdout)
				}
			}
			if got := api.Rules(t); len(got) != len(before) || got[0]["description"] != "old" {
				t.Errorf("rules changed by a dry run: %v", got)
			}
		})
	}
}

func TestForeignRulesKeptInPlace(t *testing.T) {
	api := cftest.New(t, zoneID, token)
	// The first foreign rule uses fields cloudflare-go's types do not all
	// know; it must come back byte for byte.
	api.SetRules(t, `[
		{"ref":"static-assets","description":"theirs","expression":"(http.request.uri.path.extension in {\"js\" \"css\"})",
		 "action":"set_cache_settings","enabled":true,
		 "action_parameters":{"cache":true,"cache_reserve":{"eligible":true,"minimum_file_size":100000},
		  "cache_key":{"custom_key":{"query_string":{"include":{"list":["v"]}}}},"some_future_setting":{"x":1}}},
		{"ref":"lc-old-rule","description":"no longer wanted","expression":"true","action":"set_cache_settings",
		 "action_parameters":{"cache":false},"enabled":true},
		{"ref":"images","description":"theirs too","expression":"(http.request.uri.path.extension eq \"png\")",
		 "action":"set_cache_settings","action_parameters":{"cache":true},"enabled":false}
	]`)
	before := api.Rules(t)
	r := runCmd(t, env(api, nil), "apply")
	if r.code != 0 {
		t.Fatalf("apply: exit %d, stderr %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "- remove lc-old-rule") || !strings.Contains(r.stdout, "= 2 rules of others kept in place") {
		t.Errorf("plan output:\n%s", r.stdout)
	}
	after := api.Rules(t)
	var refs []string
	for _, rule := range after {
		refs = append(refs, rule["ref"].(string))
	}
	want := "static-assets,lc-bypass-purchases,lc-bypass-orders,lc-bypass-admin,lc-bypass-events,lc-stock-reads,images"
	if got := strings.Join(refs, ","); got != want {
		t.Fatalf("got rule order %s, want %s", got, want)
	}
	for _, pair := range [][2]map[string]any{{before[0], after[0]}, {before[2], after[6]}} {
		b, a := pair[0], pair[1]
		delete(b, "version")
		delete(b, "last_updated")
		delete(a, "version")
		delete(a, "last_updated")
		bj, _ := json.Marshal(b)
		aj, _ := json.Marshal(a)
		if !bytes.Equal(bj, aj) {
			t.Errorf("foreign rule changed:\ngot  %s\nwant %s", aj, bj)
		}
	}
	// The PUT sends the foreign rules without their read-only fields.
	put := api.Requests()[1]
	if bytes.Contains(put.Body, []byte(`"last_updated"`)) || bytes.Contains(put.Body, []byte(`"version"`)) {
		t.Errorf("PUT body carries read-only fields: %s", put.Body)
	}
	if r := runCmd(t, env(api, nil), "apply"); !strings.Contains(r.stdout, "no changes") {
		t.Errorf("re-apply after merge: %s", r.stdout)
	}
}

func TestOwnedBlockReordered(t *testing.T) {
	api := cftest.New(t, zoneID, token)
	if r := runCmd(t, env(api, nil), "apply"); r.code != 0 {
		t.Fatalf("apply: %s", r.stderr)
	}
	rules := api.Rules(t)
	rules[0], rules[4] = rules[4], rules[0]
	b, _ := json.Marshal(rules)
	api.SetRules(t, string(b))
	r := runCmd(t, env(api, nil), "apply")
	if !strings.Contains(r.stdout, "~ move the lc- rules") {
		t.Errorf("got %q, want a reorder", r.stdout)
	}
	if got := api.Rules(t)[4]["ref"]; got != "lc-stock-reads" {
		t.Errorf("got last rule %v, want lc-stock-reads", got)
	}
}

func TestBadConfigSendsNothing(t *testing.T) {
	tests := []struct {
		name string
		over map[string]string
		args []string
		want string
	}{
		{"no token", map[string]string{"CLOUDFLARE_API_TOKEN": ""}, nil, "CLOUDFLARE_API_TOKEN is not set"},
		{"token with newline", map[string]string{"CLOUDFLARE_API_TOKEN": "abc\r\nX-Evil: 1"}, nil, "CLOUDFLARE_API_TOKEN"},
		{"no zone", map[string]string{"CLOUDFLARE_ZONE_ID": ""}, nil, "CLOUDFLARE_ZONE_ID"},
		{"zone with path", map[string]string{"CLOUDFLARE_ZONE_ID": "../../accounts/x"}, nil, "CLOUDFLARE_ZONE_ID"},
		{"zone flag with query", nil, []string{"--zone-id", zoneID + "?x=1"}, "--zone-id"},
		{"zone upper case", map[string]string{"CLOUDFLARE_ZONE_ID": strings.ToUpper(zoneID)}, nil, "32 lowercase hex"},
		{"api url with credentials", map[string]string{"CLOUDFLARE_API_URL": "https://u:p@example.com/"}, nil, "CLOUDFLARE_API_URL"},
		{"api url not http", map[string]string{"CLOUDFLARE_API_URL": "file:///etc/passwd"}, nil, "CLOUDFLARE_API_URL"},
		{"bad retries", map[string]string{"CDN_CONFIG_RETRIES": "many"}, nil, "CDN_CONFIG_RETRIES"},
		{"extra argument", nil, []string{"now"}, "unexpected argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := cftest.New(t, zoneID, token)
			r := runCmd(t, env(api, tt.over), append([]string{"apply"}, tt.args...)...)
			if r.code != exitConfig {
				t.Errorf("got exit %d, want %d", r.code, exitConfig)
			}
			if !strings.Contains(r.stderr, tt.want) {
				t.Errorf("got stderr %q, want it to name %q", r.stderr, tt.want)
			}
			if n := len(api.Requests()); n != 0 {
				t.Errorf("got %d requests, want none", n)
			}
		})
	}
}

func TestCommands(t *testing.T) {
	tests := []struct {
		args []string
		code int
	}{
		{nil, exitConfig},
		{[]string{"destroy"}, exitConfig},
		{[]string{"help"}, 0},
		{[]string{"rules"}, 0},
	}
	for _, tt := range tests {
		if r := runCmd(t, env(nil, nil), tt.args...); r.code != tt.code {
			t.Errorf("cdn-config %q: got exit %d, want %d", tt.args, r.code, tt.code)
		}
	}
}

func TestAPIErrorsExitOne(t *testing.T) {
	tests := []struct {
		name   string
		over   map[string]string
		status int
		body   string
		want   string
	}{
		{name: "wrong token", over: map[string]string{"CLOUDFLARE_API_TOKEN": "not-the-token"}, want: "Authentication error (10000)"},
		{name: "403 from Cloudflare", status: http.StatusForbidden,
			body: cftest.ErrorBody(9109, "Unauthorized to access requested resource"),
			want: "Unauthorized to access requested resource (9109)"},
		{name: "500", status: http.StatusInternalServerError, body: "oops", want: "HTTP 500"},
		{name: "malformed JSON", status: http.StatusOK, body: `{"success":true,"result":{"rules":[`, want: "unmarshal"},
		{name: "success false", status: http.StatusOK, body: `{"success":false,"errors":[{"code":1,"message":"nope"}],"result":null}`, want: "nope (1)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := cftest.New(t, zoneID, token)
			if tt.status != 0 {
				api.FailNext(tt.status, tt.body)
			}
			r := runCmd(t, env(api, tt.over), "apply")
			if r.code != exitAPI {
				t.Errorf("got exit %d, want %d (stderr %s)", r.code, exitAPI, r.stderr)
			}
			if !strings.Contains(r.stderr, tt.want) {
				t.Errorf("got stderr %q, want it to contain %q", r.stderr, tt.want)
			}
			if got := methods(api.Requests()); got != "GET" {
				t.Errorf("got requests %s, want GET only", got)
			}
		})
	}
}

func TestPutRejectedByAPI(t *testing.T) {
	// The GET finds no ruleset; the PUT is rejected like a bad expression.
	api := cftest.New(t, zoneID, token)
	api.FailNext(http.StatusNotFound, cftest.ErrorBody(10003, "could not find entrypoint ruleset"))
	api.FailNext(http.StatusBadRequest, cftest.ErrorBody(20120, "filter parsing error: unknown identifier"))
	r := runCmd(t, env(api, nil), "apply")
	if r.code != exitAPI || !strings.Contains(r.stderr, "filter parsing error: unknown identifier (20120)") {
		t.Errorf("got exit %d, stderr %q", r.code, r.stderr)
	}
}
