package cacherules

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"strings"
)

// Ruleset is the part of an entrypoint ruleset the plan needs. Rules are
// kept as raw JSON so that rules owned by others go back exactly as they
// came, whatever fields they use.
type Ruleset struct {
	// Exists is false when the zone has no entrypoint for the phase yet.
	Exists      bool
	Name        string
	Description string
	Rules       []json.RawMessage
}

// Op is what a plan does to one owned rule.
type Op string

// The operations of a plan.
const (
	OpAdd    Op = "add"
	OpChange Op = "change"
	OpRemove Op = "remove"
)

// Change is one owned rule added, changed or removed. Old and New are
// indented JSON without the fields Cloudflare sets (id, version,
// last_updated); Old is empty for an add, New for a remove.
type Change struct {
	Op       Op
	Ref      string
	Old, New string
}

// Plan turns a current ruleset into the desired one.
type Plan struct {
	Changes []Change
	// Reorder is set when the owned rules are right but not in order.
	Reorder bool
	// Kept counts the rules of others, carried over in place.
	Kept int
	// Rules is the complete list to write.
	Rules []json.RawMessage
}

// Empty reports whether applying the plan would change nothing.
func (p Plan) Empty() bool { return len(p.Changes) == 0 && !p.Reorder }

// readOnly are the rule fields Cloudflare sets itself and the update
// operation does not take.
var readOnly = []string{"version", "last_updated"}

type ruleHead struct {
	ID  string `json:"id"`
	Ref string `json:"ref"`
}

// MakePlan compares current with want (normally Desired()). Owned rules are
// matched by ref and keep their Cloudflare id. The owned block goes where
// the first owned rule was, or at the end when there was none; rules of
// others keep their relative order and content.
func MakePlan(current Ruleset, want []Rule) (Plan, error) {
	var p Plan
	type owned struct {
		id  string
		raw json.RawMessage
	}
	have := map[string]owned{}
	var haveOrder []string
	insertAt := -1
	var rest []json.RawMessage // current rules of others, stripped
	for i, raw := range current.Rules {
		var h ruleHead
		if err := json.Unmarshal(raw, &h); err != nil {
			return Plan{}, fmt.Errorf("cacherules: rule %d of the current ruleset: %w", i, err)
		}
		stripped, err := strip(raw)
		if err != nil {
			return Plan{}, fmt.Errorf("cacherules: rule %d of the current ruleset: %w", i, err)
		}
		if !strings.HasPrefix(h.Ref, RefPrefix) {
			rest = append(rest, stripped)
			continue
		}
		if _, dup := have[h.Ref]; dup {
			return Plan{}, fmt.Errorf("cacherules: the current ruleset has two rules with ref %q", h.Ref)
		}
		if insertAt < 0 {
			insertAt = len(rest)
		}
		have[h.Ref] = owned{id: h.ID, raw: stripped}
		haveOrder = append(haveOrder, h.Ref)
	}
	if insertAt < 0 {
		insertAt = len(rest)
	}
	p.Kept = len(rest)

	wanted := map[string]bool{}
	var block []json.RawMessage
	for _, r := range want {
		if !strings.HasPrefix(r.Ref, RefPrefix) {
			return Plan{}, fmt.Errorf("cacherules: desired rule ref %q lacks the prefix %q", r.Ref, RefPrefix)
		}
		if wanted[r.Ref] {
			return Plan{}, fmt.Errorf("cacherules: desired rules repeat ref %q", r.Ref)
		}
		wanted[r.Ref] = true
		old, ok := have[r.Ref]
		r.ID = old.id
		raw, err := json.Marshal(r)
		if err != nil {
			return Plan{}, fmt.Errorf("cacherules: encode rule %s: %w", r.Ref, err)
		}
		block = append(block, raw)
		switch same, err := sameRule(old.raw, raw); {
		case err != nil:
			return Plan{}, fmt.Errorf("cacherules: rule %s: %w", r.Ref, err)
		case !ok:
			p.Changes = append(p.Changes, Change{Op: OpAdd, Ref: r.Ref, New: show(raw)})
		case !same:
			p.Changes = append(p.Changes, Change{Op: OpChange, Ref: r.Ref, Old: show(old.raw), New: show(raw)})
		}
	}
	for _, ref := range haveOrder {
		if !wanted[ref] {
			p.Changes = append(p.Changes, Change{Op: OpRemove, Ref: ref, Old: show(have[ref].raw)})
		}
	}

	p.Rules = make([]json.RawMessage, 0, len(rest)+len(block))
	p.Rules = append(p.Rules, rest[:insertAt]...)
	p.Rules = append(p.Rules, block...)
	p.Rules = append(p.Rules, rest[insertAt:]...)

	if len(p.Changes) == 0 && current.Exists {
		// Every owned rule is as wanted; what is left is their place.
		var now []json.RawMessage
		for _, raw := range current.Rules {
			s, _ := strip(raw) // decoded once above
			now = append(now, s)
		}
		same, err := sameList(now, p.Rules)
		if err != nil {
			return Plan{}, err
		}
		p.Reorder = !same
	}
	return p, nil
}

// strip removes the read-only fields of a rule and leaves every other field
// byte for byte.
func strip(raw json.RawMessage) (json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, fmt.Errorf("rule is null")
	}
	for _, k := range readOnly {
		delete(m, k)
	}
	return json.Marshal(m)
}

// sameRule compares two rules as JSON values, ignoring their ids.
func sameRule(a, b json.RawMessage) (bool, error) {
	if a == nil || b == nil {
		return a == nil && b == nil, nil
	}
	va, err := decodeValue(a, true)
	if err != nil {
		return false, err
	}
	vb, err := decodeValue(b, true)
	if err != nil {
		return false, err
	}
	return reflect.DeepEqual(va, vb), nil
}

func sameList(a, b []json.RawMessage) (bool, error) {
	if len(a) != len(b) {
		return false, nil
	}
	for i := range a {
		va, err := decodeValue(a[i], false)
		if err != nil {
			return false, err
		}
		vb, err := decodeValue(b[i], false)
		if err != nil {
			return false, err
		}
		if !reflect.DeepEqual(va, vb) {
			return false, nil
		}
	}
	return true, nil
}

func decodeValue(raw json.RawMessage, dropID bool) (any, error) {
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		return nil, err
	}
	if dropID {
		delete(m, "id")
	}
	return m, nil
}

// show renders a rule for people: indented, without its id.
func show(raw json.RawMessage) string {
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return string(raw)
	}
	delete(m, "id")
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return string(raw)
	}
	return string(b)
}

// Write prints the plan: one line per owned rule added, changed or removed,
// the changed lines of each rule, and the rules of others kept.
func (p Plan) Write(w io.Writer) error {
	var b strings.Builder
	if p.Empty() {
		fmt.Fprintf(&b, "no changes (%d rules of others left as they are)\n", p.Kept)
		_, err := io.WriteString(w, b.String())
		return err
	}
	for _, c := range p.Changes {
		switch c.Op {
		case OpAdd:
			fmt.Fprintf(&b, "+ add %s\n", c.Ref)
			writeLines(&b, "    + ", c.New)
		case OpChange:
			fmt.Fprintf(&b, "~ change %s\n", c.Ref)
			for _, l := range lineDiff(strings.Split(c.Old, "\n"), strings.Split(c.New, "\n")) {
				fmt.Fprintf(&b, "    %s\n", l)
			}
		case OpRemove:
			fmt.Fprintf(&b, "- remove %s\n", c.Ref)
			writeLines(&b, "    - ", c.Old)
		}
	}
	if p.Reorder {
		fmt.Fprintf(&b, "~ move the %s rules into one block, in order\n", RefPrefix)
	}
	fmt.Fprintf(&b, "= %d rules of others kept in place\n", p.Kept)
	_, err := io.WriteString(w, b.String())
	return err
}

func writeLines(b *strings.Builder, prefix, text string) {
	for _, l := range strings.Split(text, "\n") {
		b.WriteString(prefix + l + "\n")
	}
}

// lineDiff is a longest-common-subsequence diff of two short texts: lines
// only in a get "- ", lines only in b "+ ", shared lines "  ".
func lineDiff(a, b []string) []string {
	n, m := len(a), len(b)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out []string
	i, j := 0, 0
	for i < n && j < m {
		switch {
		case a[i] == b[j]:
			out = append(out, "  "+a[i])
			i++
			j++
		case lcs[i+1][j] >= lcs[i][j+1]:
			out = append(out, "- "+a[i])
			i++
		default:
			out = append(out, "+ "+b[j])
			j++
		}
	}
	for ; i < n; i++ {
		out = append(out, "- "+a[i])
	}
	for ; j < m; j++ {
		out = append(out, "+ "+b[j])
	}
	return out
}
