package envflag_test

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"livecommerce/internal/envflag"
)

// settings is one of each kind of setting, bound the way services bind
// theirs.
type settings struct {
	Name  string
	Count int
	Rate  float64
	Wait  time.Duration
	Debug bool
}

func bind(t *testing.T, env map[string]string) (*envflag.Set, *settings) {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	s := envflag.New(fs, func(k string) string { return env[k] })
	var c settings
	s.String(&c.Name, "name", "TEST_NAME", "default-name", "a name")
	s.Int(&c.Count, "count", "TEST_COUNT", 3, "a count")
	s.Float(&c.Rate, "rate", "TEST_RATE", 1.5, "a rate")
	s.Duration(&c.Wait, "wait", "TEST_WAIT", 2*time.Second, "a wait")
	s.Bool(&c.Debug, "debug", "TEST_DEBUG", false, "debug mode")
	return s, &c
}

func TestPrecedence(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want settings
	}{
		{
			name: "defaults",
			want: settings{Name: "default-name", Count: 3, Rate: 1.5, Wait: 2 * time.Second},
		},
		{
			name: "env beats default",
			env:  map[string]string{"TEST_NAME": "env", "TEST_COUNT": "7", "TEST_RATE": "0.25", "TEST_WAIT": "250ms", "TEST_DEBUG": "true"},
			want: settings{Name: "env", Count: 7, Rate: 0.25, Wait: 250 * time.Millisecond, Debug: true},
		},
		{
			name: "flag beats env",
			env:  map[string]string{"TEST_NAME": "env", "TEST_COUNT": "7", "TEST_RATE": "0.25", "TEST_WAIT": "250ms", "TEST_DEBUG": "true"},
			args: []string{"-name", "flag", "-count=9", "-rate", "4", "-wait", "1m", "-debug=false"},
			want: settings{Name: "flag", Count: 9, Rate: 4, Wait: time.Minute, Debug: false},
		},
		{
			name: "flag beats default",
			args: []string{"-count", "0", "-debug"},
			want: settings{Name: "default-name", Count: 0, Rate: 1.5, Wait: 2 * time.Second, Debug: true},
		},
		{
			name: "empty env is unset",
			env:  map[string]string{"TEST_NAME": "", "TEST_COUNT": ""},
			want: settings{Name: "default-name", Count: 3, Rate: 1.5, Wait: 2 * time.Second},
		},
		{
			name: "env one, flag another",
			env:  map[string]string{"TEST_COUNT": "11"},
			args: []string{"-rate", "9.5"},
			want: settings{Name: "default-name", Count: 11, Rate: 9.5, Wait: 2 * time.Second},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, got := bind(t, tt.env)
			if err := s.Parse(tt.args); err != nil {
				t.Fatalf("Parse(%q) = %v, want nil", tt.args, err)
			}
			if *got != tt.want {
				t.Errorf("got %+v, want %+v", *got, tt.want)
			}
		})
	}
}

func TestBadEnvNamesVariable(t *testing.T) {
	tests := []struct {
		env, value string
	}{
		{"TEST_COUNT", "three"},
		{"TEST_COUNT", "1.5"},
		{"TEST_COUNT", "99999999999999999999999"},
		{"TEST_RATE", "fast"},
		{"TEST_RATE", "1,5"},
		{"TEST_WAIT", "2"}, // a duration needs a unit
		{"TEST_WAIT", "2 seconds"},
		{"TEST_DEBUG", "yes"},
		{"TEST_DEBUG", "on"},
	}
	for _, tt := range tests {
		t.Run(tt.env+"="+tt.value, func(t *testing.T) {
			s, _ := bind(t, map[string]string{tt.env: tt.value})
			err := s.Parse(nil)
			if err == nil {
				t.Fatalf("Parse with %s=%q = nil, want an error", tt.env, tt.value)
			}
			if !strings.Contains(err.Error(), tt.env) {
				t.Errorf("error %q does not name %s", err, tt.env)
			}
		})
	}
}

func TestSeveralBadValuesReportedAtOnce(t *testing.T) {
	s, _ := bind(t, map[string]string{
		"TEST_COUNT": "x", "TEST_RATE": "y", "TEST_WAIT": "z", "TEST_DEBUG": "maybe",
	})
	err := s.Parse([]string{"-count", "not-a-number"})
	if err == nil {
		t.Fatal("Parse = nil, want an error")
	}
	for _, want := range []string{"TEST_COUNT", "TEST_RATE", "TEST_WAIT", "TEST_DEBUG", "-count"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

func TestBadFlag(t *testing.T) {
	tests := [][]string{
		{"-count", "many"},
		{"-wait", "soon"},
		{"-no-such-flag"},
	}
	for _, args := range tests {
		s, _ := bind(t, nil)
		if err := s.Parse(args); err == nil {
			t.Errorf("Parse(%q) = nil, want an error", args)
		}
	}
}

func TestUsageNamesVariable(t *testing.T) {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	s := envflag.New(fs, func(string) string { return "" })
	var n int
	s.Int(&n, "count", "TEST_COUNT", 3, "a count")
	if got := fs.Lookup("count").Usage; !strings.Contains(got, "TEST_COUNT") {
		t.Errorf("usage of -count = %q, want it to name TEST_COUNT", got)
	}
}

// TestHelpShowsDefaultsNotTheEnvironment: -h must not print a value the
// environment set, which may be a password or a secret.
func TestHelpShowsDefaultsNotTheEnvironment(t *testing.T) {
	env := map[string]string{"DSN": "app:hunter2@tcp(db:3306)/x", "SECRET": "s3cr3t-value", "N": "7", "D": "3s", "B": "true", "F": "2.5"}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	var out strings.Builder
	fs.SetOutput(&out)
	s := envflag.New(fs, func(k string) string { return env[k] })
	var dsn, secret string
	var n int
	var d time.Duration
	var b bool
	var f float64
	s.String(&dsn, "dsn", "DSN", "root@tcp(127.0.0.1:3306)/db", "database")
	s.String(&secret, "secret", "SECRET", "", "a secret")
	s.Int(&n, "n", "N", 1, "n")
	s.Duration(&d, "d", "D", time.Second, "d")
	s.Bool(&b, "b", "B", false, "b")
	s.Float(&f, "f", "F", 1.5, "f")
	if err := s.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if dsn != env["DSN"] || secret != env["SECRET"] || n != 7 || d != 3*time.Second || !b || f != 2.5 {
		t.Fatalf("values from the environment not taken: %q %q %d %v %v %v", dsn, secret, n, d, b, f)
	}
	fs.PrintDefaults()
	for _, leak := range []string{"hunter2", "s3cr3t-value", "default 7", "3s", "2.5"} {
		if strings.Contains(out.String(), leak) {
			t.Errorf("help shows %q from the environment:\n%s", leak, out.String())
		}
	}
	if !strings.Contains(out.String(), "root@tcp(127.0.0.1:3306)/db") {
		t.Errorf("help lacks the built-in default:\n%s", out.String())
	}
}

// TestSecret: a secret comes from the environment only and has no flag.
func TestSecret(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
		err  bool
	}{
		{"from the environment", map[string]string{"TEST_PASSWORD": "hunter2"}, nil, "hunter2", false},
		{"unset", nil, nil, "", false},
		{"no flag", map[string]string{"TEST_PASSWORD": "hunter2"}, []string{"-test-password", "x"}, "hunter2", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			var help strings.Builder
			fs.SetOutput(&help)
			s := envflag.New(fs, func(k string) string { return tc.env[k] })
			var got string
			s.Secret(&got, "TEST_PASSWORD")
			err := s.Parse(tc.args)
			if got != tc.want || (err != nil) != tc.err {
				t.Errorf("got %q, %v; want %q, error %v", got, err, tc.want, tc.err)
			}
			fs.PrintDefaults()
			if strings.Contains(help.String(), "hunter2") {
				t.Errorf("help shows the secret: %s", help.String())
			}
		})
	}
}
