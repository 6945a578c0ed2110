// Package cftest plays the part of the Cloudflare API that cdn-config uses:
// the zone entrypoint ruleset of the cache-settings phase. It checks what
// Cloudflare checks (the bearer token, the route, the shape of a PUT body)
// and answers with Cloudflare's envelope, so tests exercise the real client.
package cftest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Phase is the only phase served.
const Phase = "http_request_cache_settings"

// Request is one request the server received.
type Request struct {
	Method, Path, Authorization, ContentType string
	Body                                     []byte
}

// Server is a fake Cloudflare API for one zone and one token.
type Server struct {
	srv    *httptest.Server
	zoneID string
	token  string

	mu       sync.Mutex
	ruleset  map[string]any // nil: no entrypoint yet
	version  int
	nextID   int
	requests []Request
	fail     []response
}

type response struct {
	status int
	body   string
}

// New starts a server that accepts token for zoneID. It stops with the test.
func New(t testing.TB, zoneID, token string) *Server {
	t.Helper()
	s := &Server{zoneID: zoneID, token: token}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

// URL is the API base URL, like https://api.cloudflare.com/client/v4.
func (s *Server) URL() string { return s.srv.URL + "/client/v4" }

// EntrypointPath is the path of the served ruleset.
func (s *Server) EntrypointPath() string {
	return "/client/v4/zones/" + s.zoneID + "/rulesets/phases/" + Phase + "/entrypoint"
}

// SetRules creates the entrypoint with rules given as a JSON array, as if
// someone had set them in the dashboard. Rules without an id get one.
func (s *Server) SetRules(t testing.TB, rulesJSON string) {
	t.Helper()
	var rules []map[string]any
	if err := json.Unmarshal([]byte(rulesJSON), &rules); err != nil {
		t.Fatalf("cftest: SetRules: %v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.store("default", "", rules)
}

// Rules returns the stored rules as JSON (nil without an entrypoint).
func (s *Server) Rules(t testing.TB) []map[string]any {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ruleset == nil {
		return nil
	}
	b, _ := json.Marshal(s.ruleset["rules"])
	var out []map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// Requests returns the requests received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// FailNext makes the next request (after its auth check passes or not) be
// answered with status and body instead.
func (s *Server) FailNext(status int, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = append(s.fail, response{status, body})
}

// ErrorBody is Cloudflare's error envelope.
func ErrorBody(code int, message string) string {
	b, _ := json.Marshal(map[string]any{
		"success":  false,
		"errors":   []map[string]any{{"code": code, "message": message}},
		"messages": []any{},
		"result":   nil,
	})
	return string(b)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, Request{
		Method: r.Method, Path: r.URL.Path, Authorization: r.Header.Get("Authorization"),
		ContentType: r.Header.Get("Content-Type"), Body: body,
	})
	if len(s.fail) > 0 {
		f := s.fail[0]
		s.fail = s.fail[1:]
		reply(w, f.status, f.body)
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+s.token {
		reply(w, http.StatusForbidden, ErrorBody(10000, "Authentication error"))
		return
	}
	if r.URL.RawQuery != "" || r.URL.Path != s.EntrypointPath() {
		reply(w, http.StatusNotFound, ErrorBody(7003, "Could not route to "+r.URL.Path+", perhaps your object identifier is invalid?"))
		return
	}
	switch r.Method {
	case http.MethodGet:
		if s.ruleset == nil {
			reply(w, http.StatusNotFound, ErrorBody(10003, "could not find entrypoint ruleset in the "+Phase+" phase"))
			return
		}
		s.ok(w)
	case http.MethodPut:
		s.put(w, r, body)
	default:
		reply(w, http.StatusMethodNotAllowed, ErrorBody(10000, "method not allowed"))
	}
}

// put validates like the Rulesets API: a JSON object with a "rules" array,
// each rule a set_cache_settings rule with an expression, no read-only or
// unknown fields, unique refs, ids only of rules that exist.
func (s *Server) put(w http.ResponseWriter, r *http.Request, body []byte) {
	bad := func(format string, a ...any) {
		reply(w, http.StatusBadRequest, ErrorBody(20021, fmt.Sprintf(format, a...)))
	}
	if r.Header.Get("Content-Type") != "application/json" {
		bad("content type must be application/json")
		return
	}
	var req struct {
		Name        string            `json:"name"`
		Description string            `json:"description"`
		Rules       *[]map[string]any `json:"rules"`
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	if err := d.Decode(&req); err != nil {
		bad("request is not valid JSON: %v", err)
		return
	}
	if req.Rules == nil {
		bad("rules: this field is required")
		return
	}
	known := map[string]bool{}
	if s.ruleset != nil {
		for _, rule := range s.ruleset["rules"].([]map[string]any) {
			known[rule["id"].(string)] = true
		}
	}
	allowed := map[string]bool{"id": true, "ref": true, "description": true, "expression": true,
		"action": true, "action_parameters": true, "enabled": true, "logging": true}
	refs := map[string]bool{}
	for i, rule := range *req.Rules {
		for k := range rule {
			if !allowed[k] {
				bad("rules[%d]: unknown or read-only field %q", i, k)
				return
			}
		}
		if rule["action"] != "set_cache_settings" {
			bad("rules[%d].action: %v is not allowed in phase %s", i, rule["action"], Phase)
			return
		}
		if e, _ := rule["expression"].(string); e == "" {
			bad("rules[%d].expression: must not be empty", i)
			return
		}
		if id, ok := rule["id"].(string); ok && !known[id] {
			bad("rules[%d].id: rule %q does not exist in this ruleset", i, id)
			return
		}
		if ref, ok := rule["ref"].(string); ok {
			if refs[ref] {
				bad("rules[%d].ref: %q is used twice", i, ref)
				return
			}
			refs[ref] = true
		}
		if msg := checkParams(rule["action_parameters"]); msg != "" {
			bad("rules[%d].action_parameters: %s", i, msg)
			return
		}
	}
	name := req.Name
	if name == "" {
		name = "default"
	}
	s.store(name, req.Description, *req.Rules)
	s.ok(w)
}

func checkParams(v any) string {
	p, ok := v.(map[string]any)
	if !ok {
		return "required for set_cache_settings"
	}
	if _, ok := p["cache"].(bool); !ok {
		return "cache must be true or false"
	}
	modes := map[string][]string{
		"edge_ttl":    {"respect_origin", "override_origin", "bypass_by_default"},
		"browser_ttl": {"respect_origin", "override_origin", "bypass"},
	}
	for field, allowed := range modes {
		ttl, ok := p[field]
		if !ok {
			continue
		}
		m, _ := ttl.(map[string]any)
		mode, _ := m["mode"].(string)
		if !slices.Contains(allowed, mode) {
			return fmt.Sprintf("%s.mode %q is not one of %v", field, mode, allowed)
		}
	}
	ck, _ := p["cache_key"].(map[string]any)
	custom, _ := ck["custom_key"].(map[string]any)
	qs, _ := custom["query_string"].(map[string]any)
	if qs["include"] != nil && qs["exclude"] != nil {
		return "query_string takes include or exclude, not both"
	}
	for _, k := range []string{"include", "exclude"} {
		if qs[k] == nil {
			continue
		}
		l, ok := qs[k].(map[string]any)
		if !ok {
			return "query_string." + k + " must be an object with all or list"
		}
		_, all := l["all"].(bool)
		_, list := l["list"].([]any)
		if all == list {
			return "query_string." + k + " needs exactly one of all and list"
		}
	}
	return ""
}

// store saves rules the way Cloudflare does: ids assigned, ref defaulting
// to the id, a new version for the ruleset and the rules.
func (s *Server) store(name, description string, rules []map[string]any) {
	s.version++
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).Add(time.Duration(s.version) * time.Minute).Format(time.RFC3339)
	for _, rule := range rules {
		if _, ok := rule["id"].(string); !ok {
			s.nextID++
			rule["id"] = fmt.Sprintf("%032x", s.nextID)
		}
		if _, ok := rule["ref"].(string); !ok {
			rule["ref"] = rule["id"]
		}
		rule["version"] = strconv.Itoa(s.version)
		rule["last_updated"] = now
	}
	s.ruleset = map[string]any{
		"id":           "4814384a9e5d4991b9815dcfc25d2f1f",
		"name":         name,
		"description":  description,
		"kind":         "zone",
		"phase":        Phase,
		"version":      strconv.Itoa(s.version),
		"last_updated": now,
		"rules":        rules,
	}
}

func (s *Server) ok(w http.ResponseWriter) {
	b, _ := json.Marshal(map[string]any{
		"success": true, "errors": []any{}, "messages": []any{}, "result": s.ruleset,
	})
	reply(w, http.StatusOK, string(b))
}

func reply(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}
