// Package verdict is how a load test judges what it measured: named
// checks that pass or fail, each with a line of detail for the report.
package verdict

import "fmt"

// Check is one line of a verdict.
type Check struct {
	Name   string
	OK     bool
	Detail string
}

// Checklist is the checks of one system, such as its invariants after a
// run.
type Checklist struct {
	System string
	Checks []Check
}

// Add appends a check; format and args make its detail.
func (l *Checklist) Add(name string, ok bool, format string, args ...any) {
	l.Checks = append(l.Checks, Check{Name: name, OK: ok, Detail: fmt.Sprintf(format, args...)})
}

// Pass reports whether the list holds checks and every one passed: a
// system nothing was checked of has not passed.
func (l Checklist) Pass() bool {
	for _, c := range l.Checks {
		if !c.OK {
			return false
		}
	}
	return len(l.Checks) > 0
}
