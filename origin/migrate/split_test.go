package migrate

import (
	"reflect"
	"testing"
)

func TestSplit(t *testing.T) {
	tests := []struct {
		name string
		body string
		want []string
	}{
		{"empty", "", nil},
		{"one statement", "CREATE TABLE a (id INT);\n", []string{"CREATE TABLE a (id INT)"}},
		{"no trailing semicolon", "CREATE TABLE a (id INT)", []string{"CREATE TABLE a (id INT)"}},
		{
			"two parts",
			"CREATE TABLE a (id INT);\n-- split\nCREATE TABLE b (id INT);\n",
			[]string{"CREATE TABLE a (id INT)", "CREATE TABLE b (id INT)"},
		},
		{
			"comment-only parts are dropped",
			"-- header\n-- more header\n-- split\nCREATE TABLE a (id INT);\n-- split\n-- nothing here\n\n-- split\n   -- indented comment\n",
			[]string{"CREATE TABLE a (id INT)"},
		},
		{
			"comments inside a part are dropped",
			"-- why this table exists\nCREATE TABLE a (\n  -- the key\n  id INT\n);\n",
			[]string{"CREATE TABLE a (\n  id INT\n)"},
		},
		{"only comments", "-- a\n-- b\n", nil},
		{"only split markers", "\n-- split\n-- split\n", nil},
		{"blank lines only", "\n\n   \n\t\n", nil},
		{
			"a split-like comment is just a comment",
			"CREATE TABLE a (id INT);\n-- split here later\nCREATE TABLE b (id INT);\n",
			[]string{"CREATE TABLE a (id INT);\nCREATE TABLE b (id INT)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := split(tt.body); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("split(%q)\ngot  %q\nwant %q", tt.body, got, tt.want)
			}
		})
	}
}
