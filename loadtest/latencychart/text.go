package latencychart

import (
	"encoding/xml"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxLabelRunes bounds every piece of text the chart prints, so that a
// runaway series name cannot push the legend or the title off the image.
const maxLabelRunes = 80

// cleanText makes s fit for an SVG text node and for one line: it drops the
// characters XML 1.0 forbids, other control characters, bidirectional
// overrides (which could make a label read backwards), and bytes that are
// not UTF-8; it turns runs of white space into one space; and it cuts the
// result to at most limit runes, the last being an ellipsis when cut. The
// result still needs escaping, see writeText.
func cleanText(s string, limit int) string {
	var b strings.Builder
	space := false
	for _, r := range s {
		switch {
		case unicode.IsSpace(r):
			space = b.Len() > 0
			continue
		case !xmlChar(r), unicode.IsControl(r), unicode.Is(unicode.Bidi_Control, r), r == utf8.RuneError:
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	return truncate(b.String(), limit)
}

// truncate cuts s to at most limit runes, ending in an ellipsis when it cuts.
func truncate(s string, limit int) string {
	if utf8.RuneCountInString(s) <= limit {
		return s
	}
	if limit < 1 {
		return ""
	}
	runes := []rune(s)[:limit-1]
	return strings.TrimRight(string(runes), " ") + "…"
}

// xmlChar reports whether XML 1.0 allows r in a document at all.
func xmlChar(r rune) bool {
	switch {
	case r == '\t', r == '\n', r == '\r':
		return true
	case r >= 0x20 && r <= 0xD7FF:
		return true
	case r >= 0xE000 && r <= 0xFFFD:
		return true
	case r >= 0x10000 && r <= unicode.MaxRune:
		return true
	}
	return false
}

// writeText writes s, already cleaned, escaped for an XML text node or a
// quoted attribute value.
func writeText(b *strings.Builder, s string) {
	// A strings.Builder never fails to write.
	_ = xml.EscapeText(b, []byte(s))
}

// textWidth estimates the width in pixels of s set in a sans-serif font of
// the given size. There is no font to measure with in an SVG writer; an
// average advance of 0.6 em errs on the wide side for Latin text, which is
// the safe side for layout.
func textWidth(s string, size float64) float64 {
	return float64(utf8.RuneCountInString(s)) * size * 0.6
}

// runesFor returns how many runes of text of the given size fit in width
// pixels, at most maxLabelRunes.
func runesFor(width, size float64) int {
	n := int(width / (size * 0.6))
	return max(0, min(n, maxLabelRunes))
}
