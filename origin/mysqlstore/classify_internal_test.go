package mysqlstore

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/go-sql-driver/mysql"
)

// Only the errors that say nothing was committed let a batch's write packet
// count as failed; every other answer sends it to BatchLanded.
func TestRefusedBeforeCommit(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&mysql.MySQLError{Number: 1062}, true},                            // duplicate key
		{fmt.Errorf("wrapped: %w", &mysql.MySQLError{Number: 1213}), true}, // deadlock or certification
		{&mysql.MySQLError{Number: 1205}, true},                            // lock wait
		{&mysql.MySQLError{Number: 4025}, true},                            // MariaDB CHECK
		{&mysql.MySQLError{Number: 3819}, true},                            // MySQL CHECK
		{&mysql.MySQLError{Number: 1047}, false},                           // Galera node not ready: may commit elsewhere
		{&mysql.MySQLError{Number: 1317}, false},                           // query interrupted
		{&mysql.MySQLError{Number: 1053}, false},                           // server shutdown
		{mysql.ErrInvalidConn, false},
		{context.DeadlineExceeded, false},
		{errors.New("read: connection reset by peer"), false},
	} {
		if got := refusedBeforeCommit(tc.err); got != tc.want {
			t.Errorf("refusedBeforeCommit(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
