package cli

import (
	"bytes"
	"context"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeConfig(t *testing.T, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "merchantctl.conf")
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSettingsPrecedence(t *testing.T) {
	file := writeConfig(t, "# merchantctl\norigin = https://file.example:1\nkey = \"file-key\"\n\ntimeout = 3s\n", 0o600)
	env := map[string]string{
		"MERCHANTCTL_CONFIG":  file,
		"ORIGIN_URL":          "https://env.example:2",
		"MERCHANT_API_KEY":    "env-key",
		"MERCHANTCTL_TIMEOUT": "4s",
	}
	getenv := func(k string) string { return env[k] }
	load := func(t *testing.T, args ...string) Settings {
		t.Helper()
		var c common
		fs := newTestFlags(&c)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		s, err := c.load(getenv, true)
		if err != nil {
			t.Fatalf("load: %v", err)
		}
		return s
	}
	// Flags beat the environment.
	if s := load(t, "--origin", "https://flag.example", "--key", "flag-key", "--timeout", "5s"); s != (Settings{"https://flag.example", "flag-key", 5 * time.Second}) {
		t.Errorf("flags: got %+v", s)
	}
	// The environment beats the file.
	if s := load(t); s != (Settings{"https://env.example:2", "env-key", 4 * time.Second}) {
		t.Errorf("env: got %+v", s)
	}
	// The file beats the defaults.
	delete(env, "ORIGIN_URL")
	delete(env, "MERCHANT_API_KEY")
	delete(env, "MERCHANTCTL_TIMEOUT")
	if s := load(t); s != (Settings{"https://file.example:1", "file-key", 3 * time.Second}) {
		t.Errorf("file: got %+v", s)
	}
	// --config beats MERCHANTCTL_CONFIG; defaults fill the rest.
	other := writeConfig(t, "key = other-key\n", 0o600)
	if s := load(t, "--config", other); s != (Settings{DefaultOrigin, "other-key", DefaultTimeout}) {
		t.Errorf("--config: got %+v", s)
	}
}

// TestSettingsBeforeCommand: settings given before the command name count,
// and the command's own flags beat them.
func TestSettingsBeforeCommand(t *testing.T) {
	var out, errOut bytes.Buffer
	code := Run(context.Background(), []string{"--origin", "ftp://before", "report", "--live", "L1"},
		func(string) string { return "" }, strings.NewReader(""), &out, &errOut)
	if code != ExitUsage || !strings.Contains(errOut.String(), "--origin: scheme must be http or https") {
		t.Errorf("got %d %q, want 2 naming --origin", code, errOut.String())
	}
}

func TestBadSettingsExit2(t *testing.T) {
	worldReadable := writeConfig(t, "key = secret-key-123\n", 0o644)
	groupReadable := writeConfig(t, "key = secret-key-123\norigin = ftp://x\n", 0o640)
	unknown := writeConfig(t, "origin = http://x\ncolour = red\n", 0o600)
	noKeyReadable := writeConfig(t, "origin = gopher://x\n", 0o644)
	groupWritable := writeConfig(t, "origin = http://127.0.0.1:9\n", 0o664)
	otherWritable := writeConfig(t, "key = secret-key-123\n", 0o602)
	writableGarbage := writeConfig(t, "colour = red\n", 0o666)
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"malformed URL", map[string]string{"ORIGIN_URL": "http://[::1"}, nil, "ORIGIN_URL: not a URL"},
		{"no host", map[string]string{"ORIGIN_URL": "http://"}, nil, "ORIGIN_URL: has no host"},
		{"non-http scheme", nil, []string{"--origin", "file:///etc/passwd"}, `--origin: scheme must be http or https, not "file"`},
		{"userinfo", map[string]string{"ORIGIN_URL": "http://user:pass@127.0.0.1:8000"}, nil, "ORIGIN_URL: must not hold a user name or password"},
		{"query", map[string]string{"ORIGIN_URL": "http://127.0.0.1:8000/?x=1"}, nil, "ORIGIN_URL: must not have a query"},
		{"space in URL", map[string]string{"ORIGIN_URL": "http://127.0.0.1:8000/ x"}, nil, "ORIGIN_URL: must be a URL without spaces"},
		{"bad port", map[string]string{"ORIGIN_URL": "http://127.0.0.1:99999"}, nil, "ORIGIN_URL: port must be 1 to 65535"},
		{"key with newline", map[string]string{"MERCHANT_API_KEY": "lck_abc\n"}, nil, "MERCHANT_API_KEY: the API key must be one line"},
		{"key with space", nil, []string{"--key", "lck abc"}, "--key: the API key must be one line"},
		{"no key", map[string]string{"MERCHANT_API_KEY": ""}, nil, "no API key"},
		{"negative timeout", map[string]string{"MERCHANTCTL_TIMEOUT": "-5s"}, nil, "MERCHANTCTL_TIMEOUT: timeout must be positive"},
		{"zero timeout", nil, []string{"--timeout", "0s"}, "--timeout: timeout must be positive"},
		{"timeout without unit", nil, []string{"--timeout", "30"}, "--timeout: timeout must be a duration"},
		{"missing config", nil, []string{"--config", "/does/not/exist"}, "config file: open /does/not/exist"},
		{"world-readable config with key", map[string]string{"MERCHANTCTL_CONFIG": worldReadable}, nil, "holds an API key but other users can read it (mode 0644); run: chmod 600"},
		{"group-readable config with key", nil, []string{"--config", groupReadable}, "holds an API key but other users can read it (mode 0640); run: chmod 600"},
		{"other-writable config", nil, []string{"--config", otherWritable}, "can be changed by other users (mode 0602)"},
		{"writable config checked before its lines", nil, []string{"--config", writableGarbage}, "can be changed by other users (mode 0666)"},
		{"unknown config setting", nil, []string{"--config", unknown}, `:2: unknown setting "colour"`},
		{"config others can change", nil, []string{"--config", groupWritable}, "can be changed by other users (mode 0664)"},
		{"bad origin in config", nil, []string{"--config", noKeyReadable}, "origin in " + noKeyReadable + ":1: scheme must be http or https"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"MERCHANT_API_KEY": "lck_good"}
			for k, v := range tc.env {
				env[k] = v
			}
			var out, errOut bytes.Buffer
			args := append([]string{"report", "--live", "L1"}, tc.args...)
			code := Run(context.Background(), args, func(k string) string { return env[k] }, strings.NewReader(""), &out, &errOut)
			if code != ExitUsage {
				t.Errorf("exit: got %d, want 2 (stderr %q)", code, errOut.String())
			}
			if !strings.Contains(errOut.String(), tc.want) {
				t.Errorf("stderr: got %q, want %q", errOut.String(), tc.want)
			}
			if strings.Contains(errOut.String(), "secret-key-123") || strings.Contains(errOut.String(), "lck_abc") {
				t.Errorf("stderr shows the key: %q", errOut.String())
			}
		})
	}
}

func newTestFlags(c *common) *flag.FlagSet {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.register(fs)
	return fs
}

// TestOriginPlainHTTP: the key goes with every request, so http:// is
// accepted only to this machine; https:// anywhere.
func TestOriginPlainHTTP(t *testing.T) {
	for _, tc := range []struct {
		origin string
		ok     bool
	}{
		{"http://127.0.0.1:8000", true},
		{"http://127.9.8.7:8000/base", true},
		{"http://localhost:8000", true},
		{"HTTP://LOCALHOST:8000", true},
		{"http://[::1]:8000", true},
		{"http://[::ffff:127.0.0.1]:8000", true},
		{"https://shop.example.com", true},
		{"https://203.0.113.9:8443", true},
		{"http://shop.example.com", false},
		{"http://203.0.113.9:8000", false},
		{"http://10.0.0.5", false},
		{"http://0.0.0.0:8000", false},
		{"http://[::]:8000", false},
		{"http://[fe80::1]:8000", false},
		{"http://localhost.evil.example:8000", false},
		{"http://127.0.0.1.nip.io:8000", false},
		{"http://2130706433:8000", false}, // 127.0.0.1 as one number: a name to the resolver, not an address
		{"http://0x7f000001", false},
		{"http://evil.localhost", false},
	} {
		t.Run(tc.origin, func(t *testing.T) {
			var c common
			if err := newTestFlags(&c).Parse([]string{"--origin", tc.origin, "--key", "lck_good"}); err != nil {
				t.Fatal(err)
			}
			_, err := c.load(func(string) string { return "" }, true)
			switch {
			case tc.ok && err != nil:
				t.Errorf("got %v, want it accepted", err)
			case !tc.ok && err == nil:
				t.Errorf("got accepted, want refused")
			case !tc.ok && !strings.Contains(err.Error(), "--origin: http:// sends the API key unencrypted; use https://"):
				t.Errorf("got %q, want it to name --origin and ask for https://", err)
			}
		})
	}
	// Through Run: bad settings exit 2, and nothing is sent.
	var out, errOut bytes.Buffer
	env := map[string]string{"ORIGIN_URL": "http://shop.example.com", "MERCHANT_API_KEY": "lck_secret"}
	code := Run(context.Background(), []string{"lives"}, func(k string) string { return env[k] }, strings.NewReader(""), &out, &errOut)
	if code != ExitUsage || !strings.Contains(errOut.String(), "ORIGIN_URL: http:// sends the API key unencrypted") {
		t.Errorf("got exit %d %q, want 2 naming ORIGIN_URL", code, errOut.String())
	}
}

func TestTrustedOwner(t *testing.T) {
	for _, tc := range []struct {
		owner, me int
		want      bool
	}{
		{1000, 1000, true},
		{0, 1000, true}, // root's file: root could change the user's own anyway
		{0, 0, true},
		{1001, 1000, false},
		{1000, 0, false}, // root does not run with a user's file
		{65534, 1000, false},
	} {
		if got := trustedOwner(tc.owner, tc.me); got != tc.want {
			t.Errorf("trustedOwner(%d, %d): got %v, want %v", tc.owner, tc.me, got, tc.want)
		}
	}
}

// TestConfigOfAnotherUser: a config file someone else owns is refused
// before it is read, whatever its mode.
func TestConfigOfAnotherUser(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("only root can give a file to another user; TestTrustedOwner covers the rule")
	}
	for _, mode := range []os.FileMode{0o600, 0o644, 0o400} {
		p := writeConfig(t, "origin = https://collector.example\n", mode)
		if err := os.Chown(p, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		var out, errOut bytes.Buffer
		env := map[string]string{"MERCHANT_API_KEY": "lck_good"}
		code := Run(context.Background(), []string{"report", "--live", "L1", "--config", p},
			func(k string) string { return env[k] }, strings.NewReader(""), &out, &errOut)
		want := "config " + p + " belongs to another user (uid 65534)"
		if code != ExitUsage || !strings.Contains(errOut.String(), want) {
			t.Errorf("mode %04o: got exit %d %q, want 2 with %q", mode, code, errOut.String(), want)
		}
	}
	// Root's own file is fine.
	p := writeConfig(t, "key = lck_good\norigin = https://shop.example\n", 0o600)
	var c common
	if err := newTestFlags(&c).Parse([]string{"--config", p}); err != nil {
		t.Fatal(err)
	}
	if s, err := c.load(func(string) string { return "" }, true); err != nil || s.Origin != "https://shop.example" {
		t.Errorf("own file: got %+v, %v, want it read", s, err)
	}
}
