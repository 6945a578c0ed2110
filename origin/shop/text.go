package shop

import (
	"strings"
	"unicode/utf8"
)

// formulaStarts are the first characters that make Excel, LibreOffice and
// Google Sheets treat a cell as a formula (CSV injection). Merchants' text
// comes back in reports they open in a spreadsheet, so it may not start
// with one; control characters (tab, CR) are refused by validText anyway.
const formulaStarts = "=+-@"

// FormulaStart reports whether s would be run as a formula by a
// spreadsheet.
func FormulaStart(s string) bool {
	return s != "" && strings.ContainsRune(formulaStarts, rune(s[0]))
}

func formulaReason(field string) string {
	if field != "" {
		field += " "
	}
	return field + "must not start with = + - or @, which a spreadsheet would run as a formula"
}

// validText: 1..maxLen printable characters of valid UTF-8, without
// surrounding spaces.
func validText(s string, maxLen int) bool {
	if s == "" || utf8.RuneCountInString(s) > maxLen || !utf8.ValidString(s) || strings.TrimSpace(s) != s {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}
