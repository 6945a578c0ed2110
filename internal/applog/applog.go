// Package applog builds the logger every command of this repository uses:
// JSON records on stderr (log/slog), at a level from LOG_LEVEL.
package applog

import (
	"fmt"
	"log/slog"
	"os"
)

// CheckLevel accepts the levels LOG_LEVEL may name.
func CheckLevel(level string) error {
	switch level {
	case "debug", "info", "warn", "error":
		return nil
	}
	return fmt.Errorf("LOG_LEVEL: %q is not debug, info, warn or error", level)
}

// New returns the JSON logger at level (info when it names none).
func New(level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}
