package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"mime"
	"net"
	"net/http"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"

	"livecommerce/origin/origintest"
)

// The contract tests hold the origin to docs/openapi.yaml: each answer is
// looked up in the document by listener, method and path template, and its
// status, required headers and JSON body are checked against what the
// document says. The document is the reference; these helpers only read
// it.

// specPath is docs/openapi.yaml as seen from this package's folder, where
// go test runs.
const specPath = "../../docs/openapi.yaml"

// specURL names the document inside the schema compiler; nothing is
// fetched from it.
const specURL = "https://livecommerce.invalid/docs/openapi.yaml"

// httpMethods are the OpenAPI operation keys of a path item.
var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// specOp is one operation of the document.
type specOp struct {
	method    string // upper case
	template  string // as written in the document: /v1/products/{sku}/stock
	listeners []string
	pattern   *regexp.Regexp
	literals  int // path segments without a parameter, to prefer /a/b over /a/{x}
}

func (o specOp) key() string { return o.method + " " + o.template }

// contractSpec is the loaded document: its operations and a compiler for
// the schemas at any place in it.
type contractSpec struct {
	doc      map[string]any
	ops      []specOp
	compiler *jsonschema.Compiler
	schemas  map[string]*jsonschema.Schema
	// exercised records "listener METHOD template" of every answer that
	// matched an operation.
	exercised map[string]bool
}

// loadContractSpec reads and parses docs/openapi.yaml.
func loadContractSpec(t *testing.T) *contractSpec {
	t.Helper()
	raw, err := os.ReadFile(specPath)
	if err != nil {
		t.Fatalf("read the API document: %v", err)
	}
	var y any
	if err := yaml.Unmarshal(raw, &y); err != nil {
		t.Fatalf("%s is not YAML: %v", specPath, err)
	}
	// Through JSON, so the validator sees JSON values (json.Number and
	// map[string]any) whatever types the YAML decoder chose.
	asJSON, err := json.Marshal(jsonCompatible(y))
	if err != nil {
		t.Fatalf("%s: not representable as JSON: %v", specPath, err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(asJSON))
	if err != nil {
		t.Fatalf("%s: %v", specPath, err)
	}
	doc, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("%s: the document is not an object", specPath)
	}
	if ver, _ := doc["openapi"].(string); !strings.HasPrefix(ver, "3.1.") {
		t.Fatalf("%s: openapi %q, want 3.1.x", specPath, ver)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource(specURL, v); err != nil {
		t.Fatalf("%s: %v", specPath, err)
	}
	s := &contractSpec{doc: doc, compiler: c, schemas: map[string]*jsonschema.Schema{}, exercised: map[string]bool{}}
	s.ops = s.operations(t)
	s.compileAll(t)
	return s
}

// compileAll compiles every schema of every documented response, its
// headers and its events, so that a broken reference fails the test even
// where no request of it gets that answer.
func (s *contractSpec) compileAll(t *testing.T) {
	t.Helper()
	for _, o := range s.ops {
		responses, _ := s.at(jsonPointer("paths", o.template, strings.ToLower(o.method), "responses"))
		codes, _ := responses.(map[string]any)
		if len(codes) == 0 {
			t.Errorf("%s: %s %s documents no response", specPath, o.method, o.template)
		}
		for code := range codes {
			resp, ptr := s.resolve(t, jsonPointer("paths", o.template, strings.ToLower(o.method), "responses", code))
			headers, _ := resp["headers"].(map[string]any)
			for name := range headers {
				if _, hptr := s.resolve(t, ptr+jsonPointer("headers", name)); hptr != "" {
					s.schema(t, hptr+jsonPointer("schema"))
				}
			}
			content, _ := resp["content"].(map[string]any)
			for mediaType, m := range content {
				s.schema(t, ptr+jsonPointer("content", mediaType, "schema"))
				events, _ := m.(map[string]any)["x-sse-events"].(map[string]any)
				for name, ev := range events {
					for part := range ev.(map[string]any) {
						s.schema(t, ptr+jsonPointer("content", mediaType, "x-sse-events", name, part))
					}
				}
			}
		}
	}
}

// jsonCompatible turns the YAML decoder's maps with non-string keys into
// JSON objects.
func jsonCompatible(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			v[k] = jsonCompatible(e)
		}
		return v
	case map[any]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[fmt.Sprint(k)] = jsonCompatible(e)
		}
		return m
	case []any:
		for i, e := range v {
			v[i] = jsonCompatible(e)
		}
		return v
	}
	return v
}

// operations lists every operation with the listeners that serve it: the
// path item's servers, or the document's.
func (s *contractSpec) operations(t *testing.T) []specOp {
	t.Helper()
	top := listenersOf(s.doc["servers"])
	paths, _ := s.doc["paths"].(map[string]any)
	if len(paths) == 0 {
		t.Fatalf("%s: no paths", specPath)
	}
	var ops []specOp
	for template, item := range paths {
		pi, _ := item.(map[string]any)
		listeners := top
		if servers, ok := pi["servers"]; ok {
			listeners = listenersOf(servers)
		}
		if len(listeners) == 0 {
			t.Errorf("%s: %s: no server names its listener (x-listener)", specPath, template)
		}
		re, literals := templatePattern(template)
		for _, m := range httpMethods {
			if _, ok := pi[m]; ok {
				ops = append(ops, specOp{method: strings.ToUpper(m), template: template, listeners: listeners, pattern: re, literals: literals})
			}
		}
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].key() < ops[j].key() })
	return ops
}

func listenersOf(servers any) []string {
	list, _ := servers.([]any)
	var out []string
	for _, srv := range list {
		m, _ := srv.(map[string]any)
		if l, ok := m["x-listener"].(string); ok {
			out = append(out, l)
		}
	}
	return out
}

var templateParam = regexp.MustCompile(`\{[^/{}]+\}`)

// templatePattern matches the concrete paths of a path template; a
// parameter is one non-empty segment.
func templatePattern(template string) (*regexp.Regexp, int) {
	literals := 0
	for seg := range strings.SplitSeq(strings.Trim(template, "/"), "/") {
		if !templateParam.MatchString(seg) {
			literals++
		}
	}
	var b strings.Builder
	b.WriteString("^")
	last := 0
	for _, loc := range templateParam.FindAllStringIndex(template, -1) {
		b.WriteString(regexp.QuoteMeta(template[last:loc[0]]))
		b.WriteString("[^/]+")
		last = loc[1]
	}
	b.WriteString(regexp.QuoteMeta(template[last:]))
	b.WriteString("$")
	return regexp.MustCompile(b.String()), literals
}

// match finds the path template served on listener that path belongs to,
// and the operation for method on it (nil when the path is listed but not
// with this method). template is "" when no listed path matches.
func (s *contractSpec) match(listener, method, path string) (template string, op *specOp) {
	best := -1
	for i := range s.ops {
		o := &s.ops[i]
		if !slices.Contains(o.listeners, listener) || !o.pattern.MatchString(path) {
			continue
		}
		if o.literals > best {
			best, template, op = o.literals, o.template, nil
		}
		if o.template == template && o.method == method {
			op = o
		}
	}
	return template, op
}

// jsonPointer escapes tokens into a JSON pointer (RFC 6901).
func jsonPointer(tokens ...string) string {
	var b strings.Builder
	for _, tok := range tokens {
		b.WriteString("/")
		b.WriteString(strings.NewReplacer("~", "~0", "/", "~1").Replace(tok))
	}
	return b.String()
}

// at returns the value at a JSON pointer of the document.
func (s *contractSpec) at(ptr string) (any, bool) {
	var v any = s.doc
	if ptr == "" {
		return v, true
	}
	for _, tok := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		switch n := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = n[tok]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(n) {
				return nil, false
			}
			v = n[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// resolve follows local $refs (of responses and headers, which the schema
// compiler does not see) and returns the object and its pointer.
func (s *contractSpec) resolve(t *testing.T, ptr string) (map[string]any, string) {
	t.Helper()
	for range 10 {
		v, ok := s.at(ptr)
		if !ok {
			t.Fatalf("%s: nothing at #%s", specPath, ptr)
		}
		m, _ := v.(map[string]any)
		ref, isRef := m["$ref"].(string)
		if !isRef {
			return m, ptr
		}
		if !strings.HasPrefix(ref, "#") {
			t.Fatalf("%s: #%s: only local references are supported, got %q", specPath, ptr, ref)
		}
		ptr = strings.TrimPrefix(ref, "#")
	}
	t.Fatalf("%s: #%s: references nest too deep", specPath, ptr)
	return nil, ""
}

// schema compiles the schema at a JSON pointer of the document.
func (s *contractSpec) schema(t *testing.T, ptr string) *jsonschema.Schema {
	t.Helper()
	if sch, ok := s.schemas[ptr]; ok {
		return sch
	}
	sch, err := s.compiler.Compile(specURL + "#" + ptr)
	if err != nil {
		t.Fatalf("%s: compile the schema at #%s: %v", specPath, ptr, err)
	}
	s.schemas[ptr] = sch
	return sch
}

// validateJSON checks body against the schema at ptr.
func (s *contractSpec) validateJSON(t *testing.T, what, ptr string, body []byte) {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		t.Errorf("%s: body %s is not JSON: %v", what, abbreviate(body), err)
		return
	}
	if err := s.schema(t, ptr).Validate(v); err != nil {
		t.Errorf("%s: body %s does not match #%s:\n%v", what, abbreviate(body), ptr, err)
	}
}

// checkAnswer holds one answer to the document: listener is the
// x-listener of the server that answered.
func (s *contractSpec) checkAnswer(t *testing.T, listener, method, path string, r origintest.Response) {
	t.Helper()
	path, _, _ = strings.Cut(path, "?")
	what := fmt.Sprintf("%s %s on %s: %d", method, path, listener, r.Status)
	template, op := s.match(listener, method, path)
	switch {
	case template == "":
		if r.Status != http.StatusNotFound {
			t.Errorf("%s: the path is not in %s, want 404 for it", what, specPath)
		}
		s.checkResponse(t, what, jsonPointer("components", "responses", "NoSuchRoute"), r)
		return
	case op == nil:
		if r.Status != http.StatusMethodNotAllowed {
			t.Errorf("%s: %s lists no %s for %s, want 405", what, specPath, method, template)
		}
		s.checkResponse(t, what, jsonPointer("components", "responses", "MethodNotAllowed"), r)
		return
	}
	s.exercised[listener+" "+op.key()] = true
	responses := jsonPointer("paths", template, strings.ToLower(method), "responses")
	if _, ok := s.at(responses + jsonPointer(strconv.Itoa(r.Status))); !ok {
		t.Errorf("%s: status %d is not documented for %s %s (body %s)", what, r.Status, method, template, abbreviate(r.Body))
		return
	}
	s.checkResponse(t, what, responses+jsonPointer(strconv.Itoa(r.Status)), r)
}

// checkResponse checks headers and body against the response object at
// ptr.
func (s *contractSpec) checkResponse(t *testing.T, what, ptr string, r origintest.Response) {
	t.Helper()
	resp, ptr := s.resolve(t, ptr)
	headers, _ := resp["headers"].(map[string]any)
	for name := range headers {
		h, hptr := s.resolve(t, ptr+jsonPointer("headers", name))
		values, present := r.Header[http.CanonicalHeaderKey(name)]
		if !present {
			if required, _ := h["required"].(bool); required {
				t.Errorf("%s: no %s header, which the document requires", what, name)
			}
			continue
		}
		if _, ok := h["schema"]; ok {
			s.checkHeader(t, what, name, hptr+jsonPointer("schema"), strings.Join(values, ", "))
		}
	}
	content, _ := resp["content"].(map[string]any)
	if len(content) == 0 {
		if len(r.Body) > 0 {
			t.Errorf("%s: body %s, want none", what, abbreviate(r.Body))
		}
		return
	}
	mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		t.Errorf("%s: Content-Type %q: %v", what, r.Header.Get("Content-Type"), err)
		return
	}
	if _, ok := content[mediaType]; !ok {
		t.Errorf("%s: Content-Type %q, want one of %v", what, mediaType, slices.Sorted(maps.Keys(content)))
		return
	}
	if mediaType == "application/json" {
		s.validateJSON(t, what, ptr+jsonPointer("content", mediaType, "schema"), r.Body)
	}
}

// checkHeader validates a header value against its schema; a header whose
// schema is an integer is read as one.
func (s *contractSpec) checkHeader(t *testing.T, what, name, ptr, value string) {
	t.Helper()
	sch, _ := s.resolve(t, ptr)
	var v any = value
	if typ, _ := sch["type"].(string); typ == "integer" {
		n, err := strconv.ParseInt(value, 10, 64)
		if err != nil {
			t.Errorf("%s: header %s: %q is not an integer", what, name, value)
			return
		}
		v = json.Number(strconv.FormatInt(n, 10))
	}
	if err := s.schema(t, ptr).Validate(v); err != nil {
		t.Errorf("%s: header %s: %q does not match #%s:\n%v", what, name, value, ptr, err)
	}
}

// contractClient sends requests and holds every answer to the document.
// base maps a listener (x-listener) to its URL. Each request to the
// origin's public listener comes, through the trusted local proxy, from an
// address of its own (an IPv6 /64 each), so that the per-address limits
// apply only where a step names an address with X-Forwarded-For.
type contractClient struct {
	spec   *contractSpec
	client *http.Client
	base   map[string]string
	addrs  int
}

// send makes a request on listener, checks the answer against the
// document, and fails the step unless its status is want. headers are
// name, value pairs.
func (c *contractClient) send(t *testing.T, want int, listener, method, path string, body []byte, headers ...string) origintest.Response {
	t.Helper()
	base, ok := c.base[listener]
	if !ok {
		t.Fatalf("no URL for the %s listener", listener)
	}
	req, err := http.NewRequest(method, base+path, bytes.NewReader(body))
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if listener == "origin" {
		c.addrs++
		req.Header.Set("X-Forwarded-For", fmt.Sprintf("2001:db8:%x::1", c.addrs))
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := c.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: read the body: %v", method, path, err)
	}
	r := origintest.Response{Status: res.StatusCode, Header: res.Header, Body: b}
	if r.Status != want {
		t.Errorf("%s %s on %s: got %d %s, want %d", method, path, listener, r.Status, abbreviate(r.Body), want)
	}
	c.spec.checkAnswer(t, listener, method, path, r)
	return r
}

// sendOversized announces a body of size bytes to the origin's public
// listener and sends only its first byte: the origin refuses the body on
// its Content-Length and closes the connection without reading it, so a
// client still writing a real body of that size could see a reset instead
// of the answer. The answer must be 413.
func (c *contractClient) sendOversized(t *testing.T, method, path string, size int, headers ...string) origintest.Response {
	t.Helper()
	host := strings.TrimPrefix(c.base["origin"], "http://")
	conn, err := net.DialTimeout("tcp", host, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", host, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	c.addrs++
	var req strings.Builder
	fmt.Fprintf(&req, "%s %s HTTP/1.1\r\nHost: %s\r\nX-Forwarded-For: 2001:db8:%x::1\r\n", method, path, host, c.addrs)
	for i := 0; i+1 < len(headers); i += 2 {
		fmt.Fprintf(&req, "%s: %s\r\n", headers[i], headers[i+1])
	}
	fmt.Fprintf(&req, "Content-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n{", size)
	if _, err := io.WriteString(conn, req.String()); err != nil {
		t.Fatalf("%s %s: write: %v", method, path, err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%s %s: read the answer: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: read the body: %v", method, path, err)
	}
	r := origintest.Response{Status: res.StatusCode, Header: res.Header, Body: b}
	if r.Status != http.StatusRequestEntityTooLarge {
		t.Errorf("%s %s with a body of %d bytes: got %d %s, want 413", method, path, size, r.Status, abbreviate(r.Body))
	}
	c.spec.checkAnswer(t, "origin", method, path, r)
	return r
}

// wantExercised fails for every operation served on one of listeners that
// no answer matched.
func (s *contractSpec) wantExercised(t *testing.T, listeners ...string) {
	t.Helper()
	for _, o := range s.ops {
		for _, l := range o.listeners {
			if slices.Contains(listeners, l) && !s.exercised[l+" "+o.key()] {
				t.Errorf("%s %s on %s is in %s but no request of this test reached it", o.method, o.template, l, specPath)
			}
		}
	}
}

// wantCode fails unless r carries the contract error code.
func wantCode(t *testing.T, r origintest.Response, code string) {
	t.Helper()
	if got := r.Code(); got != code {
		t.Errorf("error code: got %q (%s), want %q", got, abbreviate(r.Body), code)
	}
}

// sseFrame is one frame of an event stream: the lines up to a blank line.
type sseFrame struct {
	fields  map[string]string // the last value of each field; data lines joined with \n
	comment bool              // a comment line (a heartbeat)
}

// eventStream reads the frames of an open event stream.
type eventStream struct {
	frames chan sseFrame
}

// openEventStream opens an event stream on listener, holds the answer's
// status and headers to the document, and reads its frames until the test
// ends. headers are name, value pairs.
func (c *contractClient) openEventStream(t *testing.T, listener, path string, headers ...string) *eventStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base[listener]+path, nil)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	// No client timeout: it would cut the stream.
	res, err := (&http.Client{}).Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	t.Cleanup(func() { res.Body.Close() })
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("GET %s: got %d %s, want 200", path, res.StatusCode, abbreviate(b))
	}
	c.spec.checkAnswer(t, listener, http.MethodGet, path, origintest.Response{Status: res.StatusCode, Header: res.Header})
	s := &eventStream{frames: make(chan sseFrame, 64)}
	go func() {
		defer close(s.frames)
		sc := bufio.NewScanner(res.Body)
		f := sseFrame{fields: map[string]string{}}
		for sc.Scan() {
			line := sc.Text()
			switch name, value, _ := strings.Cut(line, ":"); {
			case line == "":
				if len(f.fields) > 0 || f.comment {
					select {
					case s.frames <- f:
					case <-ctx.Done():
						return
					}
				}
				f = sseFrame{fields: map[string]string{}}
			case name == "":
				f.comment = true
			default:
				value = strings.TrimPrefix(value, " ")
				if old, ok := f.fields[name]; ok && name == "data" {
					value = old + "\n" + value
				}
				f.fields[name] = value
			}
		}
	}()
	return s
}

// next returns the next frame; ok is false once the stream has ended.
func (s *eventStream) next(t *testing.T) (f sseFrame, ok bool) {
	t.Helper()
	select {
	case f, ok = <-s.frames:
		return f, ok
	case <-time.After(10 * time.Second):
		t.Fatal("no frame on the event stream within 10s")
	}
	return sseFrame{}, false
}

// nextEvent skips heartbeats and returns the next frame that names an
// event.
func (s *eventStream) nextEvent(t *testing.T) sseFrame {
	t.Helper()
	for {
		f, ok := s.next(t)
		if !ok {
			t.Fatal("the event stream ended; want another event")
		}
		if f.fields["event"] != "" {
			return f
		}
	}
}

// checkEvent holds an event frame to the document's x-sse-events: its
// name, its id (or none), and its data.
func (s *contractSpec) checkEvent(t *testing.T, f sseFrame, want string) {
	t.Helper()
	name := f.fields["event"]
	if name != want {
		t.Errorf("event %q (%v), want %q", name, f.fields, want)
	}
	ptr := jsonPointer("paths", "/v1/lives/{live_id}/events", "get", "responses", "200", "content", "text/event-stream", "x-sse-events", name)
	ev, ok := s.at(ptr)
	if !ok {
		t.Errorf("event %q is not in the document's x-sse-events", name)
		return
	}
	id, hasID := f.fields["id"]
	if _, documented := ev.(map[string]any)["id"]; documented != hasID {
		t.Errorf("event %q: id %q present %v, want present %v", name, id, hasID, documented)
	} else if hasID {
		if err := s.schema(t, ptr+jsonPointer("id")).Validate(id); err != nil {
			t.Errorf("event %q: id %q does not match the document:\n%v", name, id, err)
		}
	}
	s.validateJSON(t, "event "+name, ptr+jsonPointer("data"), []byte(f.fields["data"]))
}
