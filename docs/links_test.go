package docs_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

var (
	// [text](target) and ![alt](target), with an optional "title".
	inlineLink = regexp.MustCompile(`!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)`)
	// [label]: target
	refLink    = regexp.MustCompile(`^\s{0,3}\[[^\]]+\]:\s*<?([^\s>]+)>?`)
	atxHeading = regexp.MustCompile(`^\s{0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$`)
	htmlAnchor = regexp.MustCompile(`<a\s+(?:name|id)="([^"]+)"`)
	scheme     = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*:`)
	inlineCode = regexp.MustCompile("`+[^`]*`+")
	mdLinkText = regexp.MustCompile(`!?\[([^\]]*)\]\([^)]*\)`)
)

// TestLinksResolve checks every relative link of README.md and docs/*.md:
// the file or folder exists inside the repository, and a #fragment names a
// heading of the Markdown file it points at.
func TestLinksResolve(t *testing.T) {
	root := moduleRoot(t)
	files, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	files = append([]string{filepath.Join(root, "README.md")}, files...)
	anchors := map[string]map[string]bool{} // by file, read once
	anchorsOf := func(path string) map[string]bool {
		if a, ok := anchors[path]; ok {
			return a
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		a := headingAnchors(string(data))
		anchors[path] = a
		return a
	}
	checked := 0
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, file)
		for _, l := range links(string(data)) {
			if scheme.MatchString(l.target) || strings.HasPrefix(l.target, "//") {
				continue // another site: not checked here
			}
			checked++
			target, frag, _ := strings.Cut(l.target, "#")
			path := file
			if target != "" {
				if strings.HasPrefix(target, "/") {
					path = filepath.Join(root, filepath.FromSlash(target))
				} else {
					path = filepath.Join(filepath.Dir(file), filepath.FromSlash(target))
				}
				if r, err := filepath.Rel(root, path); err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
					t.Errorf("%s:%d: link %q leaves the repository", rel, l.line, l.target)
					continue
				}
				if _, err := os.Stat(path); err != nil {
					t.Errorf("%s:%d: link %q: no such file or folder", rel, l.line, l.target)
					continue
				}
			}
			if frag == "" {
				continue
			}
			if !strings.HasSuffix(path, ".md") {
				t.Errorf("%s:%d: link %q: a #fragment on a file that is not Markdown", rel, l.line, l.target)
				continue
			}
			if !anchorsOf(path)[strings.ToLower(frag)] {
				t.Errorf("%s:%d: link %q: %s has no heading with the anchor #%s", rel, l.line, l.target, filepath.Base(path), frag)
			}
		}
	}
	if checked == 0 {
		t.Error("no relative link found: is the parser broken?")
	}
}

type link struct {
	target string
	line   int
}

// links returns the link targets of a Markdown text, leaving out fenced
// code blocks and code spans.
func links(text string) []link {
	var out []link
	inFence := false
	for n, line := range strings.Split(text, "\n") {
		if isFence(line) {
			inFence = !inFence
			continue
		}
		if inFence {
			continue
		}
		line = inlineCode.ReplaceAllString(line, "")
		for _, m := range inlineLink.FindAllStringSubmatch(line, -1) {
			out = append(out, link{m[1], n + 1})
		}
		if m := refLink.FindStringSubmatch(line); m != nil {
			out = append(out, link{m[1], n + 1})
		}
	}
	return out
}

// headingAnchors returns the anchors GitHub gives the headings of a
// Markdown text (and any <a id> or <a name>).
func headingAnchors(text string) map[string]bool {
	anchors := map[string]bool{}
	count := map[string]int{}
	inFence := false
	for _, line := range strings.Split(text, "\n") {
		if isFence(line) {
			inFence = !inFence
			continue
		}
		if inFence {
			continue
		}
		for _, m := range htmlAnchor.FindAllStringSubmatch(line, -1) {
			anchors[strings.ToLower(m[1])] = true
		}
		m := atxHeading.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		slug := slugify(m[1])
		if n := count[slug]; n > 0 {
			anchors[slug+"-"+strconv.Itoa(n)] = true
		} else {
			anchors[slug] = true
		}
		count[slug]++
	}
	return anchors
}

// slugify is GitHub's rule: the heading's text in lower case, links reduced
// to their text, everything but letters, digits, spaces, hyphens and
// underscores dropped, and spaces turned into hyphens.
func slugify(heading string) string {
	heading = mdLinkText.ReplaceAllString(heading, "$1")
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

func TestSlugify(t *testing.T) {
	tests := []struct{ heading, want string }{
		{"Live stock stream (stockfeed)", "live-stock-stream-stockfeed"},
		{"Load test (`make bench`)", "load-test-make-bench"},
		{"Edge invalidation (edge-invalidator)", "edge-invalidation-edge-invalidator"},
		{"What runs where", "what-runs-where"},
		{"A purchase, step by step", "a-purchase-step-by-step"},
		{"[Linked](x.md) heading", "linked-heading"},
		{"snake_case and Ünïcode", "snake_case-and-ünïcode"},
	}
	for _, tt := range tests {
		if got := slugify(tt.heading); got != tt.want {
			t.Errorf("slugify(%q) = %q, want %q", tt.heading, got, tt.want)
		}
	}
}

func TestHeadingAnchorsNumbersRepeats(t *testing.T) {
	got := headingAnchors("# Notes\n## Notes\n```\n# not a heading\n```\n### Notes\n")
	for _, want := range []string{"notes", "notes-1", "notes-2"} {
		if !got[want] {
			t.Errorf("headingAnchors: no %q in %v", want, got)
		}
	}
	if got["not-a-heading"] {
		t.Errorf("headingAnchors: a line in a code block was taken for a heading")
	}
}
