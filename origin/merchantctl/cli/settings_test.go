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
	file := writeConfig(t, "# merchantctl\norigin = http://file.example:1\nkey = \"file-key\"\n\ntimeout = 3s\n", 0o600)
	env := map[string]string{
		"MERCHANTCTL_CONFIG":  file,
		"ORIGIN_URL":          "http://env.example:2",
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
		s, err := c.load(getenv, true, &bytes.Buffer{})
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
	if s := load(t); s != (Settings{"http://env.example:2", "env-key", 4 * time.Second}) {
		t.Errorf("env: got %+v", s)
	}
	// The file beats the defaults.
	delete(env, "ORIGIN_URL")
	delete(env, "MERCHANT_API_KEY")
	delete(env, "MERCHANTCTL_TIMEOUT")
	if s := load(t); s != (Settings{"http://file.example:1", "file-key", 3 * time.Second}) {
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
		{"world-readable config with key", map[string]string{"MERCHANTCTL_CONFIG": worldReadable}, nil, "holds an API key but anyone on this machine can read it (mode 0644); run: chmod 600"},
		{"unknown config setting", nil, []string{"--config", unknown}, `:2: unknown setting "colour"`},
		{"config others can change", nil, []string{"--config", groupWritable}, "can be changed by other users (mode 0664)"},
		{"bad origin in config", nil, []string{"--config", noKeyReadable}, "origin in " + noKeyReadable + ":1: scheme must be http or https"},
		{"group-readable config warns", nil, []string{"--config", groupReadable}, "its group can read it"},
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
