// Package envflag binds each setting to a command-line flag and an
// environment variable with the same meaning: the flag wins, then the
// variable, then the default. A variable that does not parse is an error
// naming the variable, so a bad setting stops a service at start.
package envflag

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"
)

// Set wraps a flag.FlagSet.
type Set struct {
	fs     *flag.FlagSet
	getenv func(string) string
	errs   []error
}

// New returns a Set over fs reading variables with getenv (os.Getenv when
// nil).
func New(fs *flag.FlagSet, getenv func(string) string) *Set {
	if getenv == nil {
		getenv = os.Getenv
	}
	return &Set{fs: fs, getenv: getenv}
}

func (s *Set) lookup(env string) (string, bool) {
	v := s.getenv(env)
	return v, v != ""
}

func usage(u, env string) string { return fmt.Sprintf("%s (env %s)", u, env) }

// showDefault makes -h print the built-in default rather than the value
// the environment gave: that value may be a secret (a DSN's password, the
// JWT secret) and help output ends up in terminals, logs and bug reports.
func (s *Set) showDefault(name, def string) {
	if f := s.fs.Lookup(name); f != nil {
		f.DefValue = def
	}
}

// String binds a string setting.
func (s *Set) String(p *string, name, env, def, u string) {
	shown := def
	if v, ok := s.lookup(env); ok {
		def = v
	}
	s.fs.StringVar(p, name, def, usage(u, env))
	s.showDefault(name, shown)
}

// Int binds an integer setting.
func (s *Set) Int(p *int, name, env string, def int, u string) {
	defer s.showDefault(name, strconv.Itoa(def))
	if v, ok := s.lookup(env); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			s.errs = append(s.errs, fmt.Errorf("%s: %q is not an integer", env, v))
		} else {
			def = n
		}
	}
	s.fs.IntVar(p, name, def, usage(u, env))
}

// Float binds a floating-point setting.
func (s *Set) Float(p *float64, name, env string, def float64, u string) {
	defer s.showDefault(name, strconv.FormatFloat(def, 'g', -1, 64))
	if v, ok := s.lookup(env); ok {
		n, err := strconv.ParseFloat(v, 64)
		if err != nil {
			s.errs = append(s.errs, fmt.Errorf("%s: %q is not a number", env, v))
		} else {
			def = n
		}
	}
	s.fs.Float64Var(p, name, def, usage(u, env))
}

// Duration binds a duration setting ("250ms", "2s").
func (s *Set) Duration(p *time.Duration, name, env string, def time.Duration, u string) {
	defer s.showDefault(name, def.String())
	if v, ok := s.lookup(env); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			s.errs = append(s.errs, fmt.Errorf("%s: %q is not a duration such as 250ms or 2s", env, v))
		} else {
			def = d
		}
	}
	s.fs.DurationVar(p, name, def, usage(u, env))
}

// Parse parses args and reports every bad variable and flag at once.
func (s *Set) Parse(args []string) error {
	if err := s.fs.Parse(args); err != nil {
		s.errs = append(s.errs, err)
	}
	return errors.Join(s.errs...)
}

// Bool binds a boolean setting ("true", "false", "1", "0").
func (s *Set) Bool(p *bool, name, env string, def bool, u string) {
	defer s.showDefault(name, strconv.FormatBool(def))
	if v, ok := s.lookup(env); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			s.errs = append(s.errs, fmt.Errorf("%s: %q is not true or false", env, v))
		} else {
			def = b
		}
	}
	s.fs.BoolVar(p, name, def, usage(u, env))
}

// Secret binds a setting only the environment can give, such as a
// password: a flag would put it in ps and shell history, so there is none,
// and -h shows nothing of it. Name the variable in a neighbouring flag's
// usage.
func (s *Set) Secret(p *string, env string) {
	*p, _ = s.lookup(env)
}
