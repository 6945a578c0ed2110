// Package docs_test keeps the documentation honest: every setting a binary
// accepts is in the settings tables of operations.md, those tables name no
// setting that does not exist, and every relative link in README.md and
// docs/*.md leads somewhere.
package docs_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// setting is one flag (or environment-only variable) as a binary's -h
// prints it, or as a row of a settings table shows it.
type setting struct {
	flag string // without dashes; "" for a variable with no flag
	env  string // "" for a flag with no variable
}

func (s setting) String() string {
	f, e := "--"+s.flag, s.env
	if s.flag == "" {
		f = "(no flag)"
	}
	if e == "" {
		e = "(no variable)"
	}
	return e + " " + f
}

// helpSettings is what a binary's -h output (all its commands together)
// says it accepts.
type helpSettings struct {
	// defined: settings declared on a line of their own, with the default
	// -h printed for them ("" when it printed none; nil when the help is
	// hand-written and does not print defaults the same way).
	defined map[setting][]*string
	// flags and envs: every --flag and every VARIABLE_NAME the help text
	// mentions anywhere, e.g. in a command's usage line or in "or set
	// REDIS_PASSWORD" for a variable that has no flag.
	flags map[string]bool
	envs  map[string]bool
	// commands run, for messages.
	commands []string
}

// TestSettingsTablesMatchBinaries builds every binary under cmd/, runs -h
// on it and on each of its commands, and compares what they accept with
// the settings tables of docs/operations.md, in both directions.
func TestSettingsTablesMatchBinaries(t *testing.T) {
	root := moduleRoot(t)
	bin := buildBinaries(t, root)

	binaries, err := os.ReadDir(bin)
	if err != nil {
		t.Fatal(err)
	}
	help := map[string]*helpSettings{}
	allEnvs := map[string]bool{} // every variable any binary mentions
	for _, b := range binaries {
		h := readHelp(t, filepath.Join(bin, b.Name()), b.Name())
		help[b.Name()] = h
		for e := range h.envs {
			allEnvs[e] = true
		}
	}
	if len(help) == 0 {
		t.Fatal("go build ./cmd/... built no binary")
	}

	tables := readSettingsTables(t, filepath.Join(root, "docs", "operations.md"), help)
	documentedEnvs := map[string]bool{}
	for _, rows := range tables {
		for _, r := range rows {
			if r.env != "" {
				documentedEnvs[r.env] = true
			}
		}
	}

	for _, name := range sortedKeys(help) {
		h, rows := help[name], tables[name]
		t.Run(name, func(t *testing.T) {
			if len(rows) == 0 {
				t.Fatalf("docs/operations.md has no settings table under a heading \"### %s\" (ran: %s)", name, strings.Join(h.commands, "; "))
			}
			byKey := map[setting]row{}
			docFlags := map[string]bool{}
			for _, r := range rows {
				byKey[r.setting] = r
				docFlags[r.flag] = true
			}
			definedFlags := map[string]bool{}
			definedEnvs := map[string]bool{}
			for s := range h.defined {
				definedFlags[s.flag] = true
				definedEnvs[s.env] = true
			}

			// The binary's settings are all in the tables, with their defaults.
			for _, s := range sortedSettings(h.defined) {
				r, ok := byKey[s]
				if !ok {
					t.Errorf("%s: -h has %s, docs/operations.md's %s tables do not", name, s, name)
					continue
				}
				if err := sameDefault(h.defined[s], r.def); err != nil {
					t.Errorf("%s: %s: %v (docs/operations.md line %d)", name, s, err, r.line)
				}
			}
			for _, f := range sortedKeys(h.flags) {
				if !definedFlags[f] && !docFlags[f] {
					t.Errorf("%s: -h mentions --%s, docs/operations.md's %s tables do not", name, f, name)
				}
			}
			for _, e := range sortedKeys(h.envs) {
				if !definedEnvs[e] && !documentedEnvs[e] {
					t.Errorf("%s: -h mentions %s, no table of docs/operations.md has it", name, e)
				}
			}

			// The tables name nothing the binary does not have.
			for _, r := range rows {
				_, defined := h.defined[r.setting]
				switch {
				case defined:
				case r.flag != "" && r.env == "" && h.flags[r.flag] && !definedFlags[r.flag]:
					// A flag that only a usage line shows, such as
					// merchantctl report's --json.
				case r.flag == "" && allEnvs[r.env]:
					// A variable with no flag (a secret), named in a
					// neighbouring flag's help or a command's usage.
				default:
					t.Errorf("docs/operations.md line %d: %s under \"### %s\", but no command of %s has it", r.line, r.setting, name, name)
				}
			}
		})
	}
	for name, rows := range tables {
		if help[name] == nil {
			t.Errorf("docs/operations.md: settings table under \"### %s\" (line %d), but go build ./cmd/... built no %s", name, rows[0].line, name)
		}
	}
}

// moduleRoot is the folder of go.mod above the test's working directory.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
}

// buildBinaries builds ./cmd/... into a temporary folder and returns it.
func buildBinaries(t *testing.T, root string) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool, "build", "-o", out+string(filepath.Separator), "./cmd/...")
	cmd.Dir = root
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/...: %v\n%s", err, msg)
	}
	return out
}

var (
	// A flag as package flag prints it: "  -name type" or "  -name\tusage".
	goFlagLine = regexp.MustCompile(`^  -([A-Za-z0-9][A-Za-z0-9_.-]*)(?:[ \t].*)?$`)
	// A flag in hand-written help: "  --origin URL   ORIGIN_URL ...".
	// Exactly two spaces: a deeper "--flag" continues a sentence.
	longFlagLine = regexp.MustCompile(`^  --([a-z][a-z0-9-]*)\b(.*)$`)
	// The variable of a flag, "(env NAME)", or "(NAME_X)" as feedbench
	// writes it.
	envMark   = regexp.MustCompile(`\((?:env ([A-Z][A-Z0-9_]*)|([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+))\)`)
	defMark   = regexp.MustCompile(`\(default (.*)\)\s*$`)
	flagToken = regexp.MustCompile(`(?:^|[\s\[(|])--([a-z][a-z0-9-]*)`)
	// A variable named in prose: capitals with at least one underscore, so
	// that words such as JSON or URL are not taken for one.
	envToken = regexp.MustCompile(`\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b`)
	word     = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)
)

// readHelp runs "path -h", then "-h" of every command the help names,
// until no new command turns up.
func readHelp(t *testing.T, path, name string) *helpSettings {
	t.Helper()
	h := &helpSettings{defined: map[setting][]*string{}, flags: map[string]bool{}, envs: map[string]bool{}}
	seen := map[string]bool{"": true}
	queue := [][]string{nil}
	for len(queue) > 0 {
		cmdArgs := queue[0]
		queue = queue[1:]
		text := runHelp(t, path, cmdArgs)
		h.commands = append(h.commands, strings.TrimSpace(name+" "+strings.Join(cmdArgs, " ")+" -h"))
		parseHelp(text, h)
		for _, c := range commandsIn(text, name) {
			key := strings.Join(c, " ")
			if !seen[key] {
				seen[key] = true
				queue = append(queue, c)
			}
		}
	}
	return h
}

// runHelp runs the binary with args and -h in an empty environment, so
// that nothing set in the shell shows up in the help, and returns what it
// printed on either stream. Exit statuses vary (flag.ErrHelp exits 0 or 2)
// and are not judged.
func runHelp(t *testing.T, path string, args []string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, append(slices.Clone(args), "-h")...)
	cmd.Dir = t.TempDir()
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + cmd.Dir}
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("%s %s -h did not finish within 20s", filepath.Base(path), strings.Join(args, " "))
	}
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("%s %s -h: %v", filepath.Base(path), strings.Join(args, " "), err)
	}
	return string(out)
}

// parseHelp adds what one help text declares and mentions to h.
func parseHelp(text string, h *helpSettings) {
	lines := strings.Split(text, "\n")
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if m := goFlagLine.FindStringSubmatch(line); m != nil {
			// package flag's format: the usage follows on lines indented by
			// four spaces and a tab (or after a tab on the same line).
			usage := ""
			if _, after, ok := strings.Cut(line, "\t"); ok {
				usage = after
			}
			for i+1 < len(lines) && strings.HasPrefix(lines[i+1], "    \t") {
				i++
				usage += " " + strings.TrimSpace(lines[i])
			}
			s := setting{flag: m[1]}
			if e := envMark.FindStringSubmatch(usage); e != nil {
				s.env = e[1] + e[2]
			}
			def := ""
			if d := defMark.FindStringSubmatch(usage); d != nil {
				def = d[1]
				if u, err := strconv.Unquote(def); err == nil {
					def = u
				}
			}
			if !slices.ContainsFunc(h.defined[s], func(p *string) bool { return *p == def }) {
				h.defined[s] = append(h.defined[s], &def)
			}
			h.flags[s.flag] = true
			continue
		}
		if m := longFlagLine.FindStringSubmatch(line); m != nil {
			s := setting{flag: m[1], env: envToken.FindString(m[2])}
			if s.flag != "help" {
				if _, ok := h.defined[s]; !ok {
					h.defined[s] = nil
				}
			}
		}
	}
	for _, m := range flagToken.FindAllStringSubmatch(text, -1) {
		if m[1] != "help" {
			h.flags[m[1]] = true
		}
	}
	for _, e := range envToken.FindAllString(text, -1) {
		h.envs[e] = true
	}
}

// commandsIn finds the commands a help text names: the entries of a
// "commands:" block ("  merchant create --name NAME   create a merchant"),
// and lines that start with the binary's name followed by a command
// ("usage: feedbench transport [flags]", "  merchantctl upload --live L1 f.csv").
func commandsIn(text, name string) [][]string {
	var cmds [][]string
	inBlock := false
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case strings.EqualFold(trimmed, "commands:"):
			inBlock = true
			continue
		case trimmed == "":
			inBlock = false
			continue
		}
		if inBlock && strings.HasPrefix(line, "  ") && !strings.HasPrefix(line, "   ") {
			entry, _, _ := strings.Cut(trimmed, "  ")
			if c := leadingWords(strings.Fields(entry)); len(c) > 0 {
				cmds = append(cmds, c)
			}
			continue
		}
		fields := strings.Fields(trimmed)
		if len(fields) > 0 && strings.EqualFold(fields[0], "usage:") {
			fields = fields[1:]
		}
		if len(fields) > 1 && fields[0] == name {
			if c := leadingWords(fields[1:]); len(c) > 0 {
				cmds = append(cmds, c)
			}
		}
	}
	return cmds
}

func leadingWords(fields []string) []string {
	var c []string
	for _, f := range fields {
		if !word.MatchString(f) {
			break
		}
		c = append(c, f)
	}
	return c
}

// row is one row of a settings table.
type row struct {
	setting
	def  string // the code span the default cell starts with; "" when none
	line int
}

var (
	codeSpan  = regexp.MustCompile("`([^`]*)`")
	envName   = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)
	flagName  = regexp.MustCompile(`^--?([a-z0-9][a-z0-9-]*)$`)
	heading3  = regexp.MustCompile(`^###\s+(.*?)\s*#*\s*$`)
	headingLT = regexp.MustCompile(`^#{1,2}\s`)
)

// readSettingsTables returns the rows of every settings table (a table
// whose header has a "variable" and a "flag" column) in the markdown file,
// by the binary named in the "### name" heading above it.
func readSettingsTables(t *testing.T, path string, binaries map[string]*helpSettings) map[string][]row {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tables := map[string][]row{}
	current := ""           // binary of the current ### section
	var cols map[string]int // columns of the table being read; nil outside a settings table
	inTable, inFence := false, false
	for n, line := range strings.Split(string(data), "\n") {
		lineNo := n + 1
		if isFence(line) {
			inFence = !inFence
			continue
		}
		if inFence {
			continue
		}
		if m := heading3.FindStringSubmatch(line); m != nil {
			current = ""
			name := strings.Trim(strings.Fields(m[1] + " x")[0], "`")
			if binaries[name] != nil || looksLikeBinary(m[1]) {
				current = name
			}
		} else if headingLT.MatchString(line) {
			current = ""
		}
		if !strings.HasPrefix(strings.TrimSpace(line), "|") {
			inTable, cols = false, nil
			continue
		}
		cells := splitRow(line)
		if !inTable {
			inTable = true
			cols = nil
			header := map[string]int{}
			for i, c := range cells {
				header[strings.ToLower(strings.TrimSpace(c))] = i
			}
			_, hasVar := header["variable"]
			_, hasFlag := header["flag"]
			if hasVar && hasFlag {
				cols = header
				if current == "" {
					t.Errorf("docs/operations.md line %d: a settings table outside a \"### <binary>\" section", lineNo)
				}
			}
			continue
		}
		if cols == nil || isDelimiterRow(cells) {
			continue
		}
		r := row{line: lineNo}
		if i, ok := cols["variable"]; ok && i < len(cells) {
			for _, m := range codeSpan.FindAllStringSubmatch(cells[i], -1) {
				if envName.MatchString(m[1]) {
					if r.env != "" {
						t.Errorf("docs/operations.md line %d: more than one variable in a row", lineNo)
					}
					r.env = m[1]
				}
			}
		}
		if i, ok := cols["flag"]; ok && i < len(cells) {
			for _, m := range codeSpan.FindAllStringSubmatch(cells[i], -1) {
				if f := flagName.FindStringSubmatch(m[1]); f != nil {
					if r.flag != "" {
						t.Errorf("docs/operations.md line %d: more than one flag in a row", lineNo)
					}
					r.flag = f[1]
				}
			}
		}
		if i, ok := cols["default"]; ok && i < len(cells) {
			// A cell that starts with a code span gives a value; one that
			// starts otherwise, "(empty: `PATH`, then …)", says there is none.
			if m := codeSpan.FindStringSubmatch(cells[i]); m != nil && strings.HasPrefix(strings.TrimSpace(cells[i]), "`") {
				r.def = m[1]
			}
		}
		if r.env == "" && r.flag == "" {
			t.Errorf("docs/operations.md line %d: a settings row with neither a `VARIABLE` nor a `--flag`", lineNo)
			continue
		}
		if current == "" {
			continue
		}
		for _, other := range tables[current] {
			if other.setting == r.setting {
				t.Errorf("docs/operations.md line %d: %s is already in the %s tables (line %d)", lineNo, r.setting, current, other.line)
			}
		}
		tables[current] = append(tables[current], r)
	}
	return tables
}

// looksLikeBinary reports whether a heading names a program in code, such
// as "### `oldtool`": a table under it is checked against the binaries too,
// and reported when no such binary exists.
func looksLikeBinary(heading string) bool {
	return strings.HasPrefix(heading, "`") && strings.Count(heading, "`") == 2 && strings.HasSuffix(heading, "`")
}

func isFence(line string) bool {
	s := strings.TrimSpace(line)
	return strings.HasPrefix(s, "```") || strings.HasPrefix(s, "~~~")
}

// splitRow splits a table row into cells, keeping | inside code spans or
// escaped as \| within its cell.
func splitRow(line string) []string {
	s := strings.TrimSpace(line)
	s = strings.TrimPrefix(s, "|")
	s = strings.TrimSuffix(s, "|")
	var cells []string
	var b strings.Builder
	inCode := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && i+1 < len(s) && s[i+1] == '|':
			b.WriteByte('|')
			i++
		case c == '`':
			inCode = !inCode
			b.WriteByte(c)
		case c == '|' && !inCode:
			cells = append(cells, b.String())
			b.Reset()
		default:
			b.WriteByte(c)
		}
	}
	return append(cells, b.String())
}

func isDelimiterRow(cells []string) bool {
	for _, c := range cells {
		if strings.Trim(strings.TrimSpace(c), ":-") != "" {
			return false
		}
	}
	return true
}

// sameDefault compares the defaults -h printed for a setting (nil when the
// help does not print them) with the code span the table's default cell
// starts with. Durations, numbers and strings are compared as such, so
// `24h` matches 24h0m0s and `0.0833` matches 0.08333333333333333.
func sameDefault(printed []*string, doc string) error {
	if printed == nil {
		return nil
	}
	for _, p := range printed {
		if equalDefault(*p, doc) {
			return nil
		}
	}
	var want []string
	for _, p := range printed {
		if *p == "" {
			want = append(want, "none (the cell may say why, without starting with a code span)")
		} else {
			want = append(want, "`"+*p+"`")
		}
	}
	got := "no code span"
	if doc != "" {
		got = "`" + doc + "`"
	}
	return fmt.Errorf("default is %s in the table, %s in -h", got, strings.Join(want, " or "))
}

func equalDefault(printed, doc string) bool {
	if printed == "" {
		// -h prints no default for a zero value.
		return doc == "" || doc == "false" || doc == "0" || doc == "0s"
	}
	if printed == doc {
		return true
	}
	if a, err := time.ParseDuration(printed); err == nil {
		b, err := time.ParseDuration(doc)
		return err == nil && a == b
	}
	a, errA := strconv.ParseFloat(printed, 64)
	b, errB := strconv.ParseFloat(doc, 64)
	if errA == nil && errB == nil {
		diff := a - b
		if diff < 0 {
			diff = -diff
		}
		return diff <= 1e-3*max(abs(a), abs(b))
	}
	return false
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func sortedSettings(m map[setting][]*string) []setting {
	keys := make([]setting, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].env != keys[j].env {
			return keys[i].env < keys[j].env
		}
		return keys[i].flag < keys[j].flag
	})
	return keys
}
