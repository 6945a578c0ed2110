// Package migrations embeds the versioned schema of the database of record.
//
// Files are named NNNN_description.sql and applied in order by `origin
// migrate`. Statements are separated by a line holding only "-- split" so no
// SQL parser is needed. Every statement must run on MySQL 8 (Percona XtraDB
// Cluster in strict mode) and MariaDB 10.11: InnoDB only, a primary key on
// every table, no LOCK TABLES, no CREATE TABLE ... AS SELECT.
package migrations

import "embed"

// FS holds the migration files.
//
//go:embed *.sql
var FS embed.FS
