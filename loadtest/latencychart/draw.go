package latencychart

import (
	"fmt"
	"strconv"
	"strings"
)

// writeBands shades the bands, alternating two greys so that adjacent steps
// of a capacity search stay apart.
func writeBands(b *strings.Builder, bands []Band, xs linScale, top, bottom float64) {
	for i, bd := range bands {
		x0, x1 := xs.pos(bd.From), xs.pos(bd.To)
		opacity := "0.05"
		if i%2 == 1 {
			opacity = "0.1"
		}
		fmt.Fprintf(b, `<rect x="%s" y="%s" width="%s" height="%s" fill="#000" fill-opacity="%s"/>`+"\n",
			coord(x0), coord(top), coord(max(x1-x0, 1)), coord(bottom-top), opacity)
	}
}

// writeGrid draws the gridlines, the frame of the plot and the labels of
// both axes.
func writeGrid(b *strings.Builder, ys logScale, xs linScale, yticks, xticks []tick, top, bottom float64) {
	left, right := xs.x0, xs.x1
	b.WriteString(`<g stroke-width="1">` + "\n")
	for _, t := range yticks {
		y := coord(ys.pos(t.v))
		color := "#d8d8d8"
		if t.minor {
			color = "#eeeeee"
		}
		fmt.Fprintf(b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s"/>`+"\n", coord(left), y, coord(right), y, color)
	}
	for _, t := range xticks {
		x := coord(xs.pos(t.v))
		fmt.Fprintf(b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#eeeeee"/>`+"\n", x, coord(top), x, coord(bottom))
	}
	fmt.Fprintf(b, `<rect x="%s" y="%s" width="%s" height="%s" fill="none" stroke="#888"/>`+"\n",
		coord(left), coord(top), coord(right-left), coord(bottom-top))
	b.WriteString("</g>\n")

	b.WriteString(`<g text-anchor="end">` + "\n")
	for _, t := range yticks {
		if t.label == "" {
			continue
		}
		fmt.Fprintf(b, `<text x="%s" y="%s">%s</text>`+"\n", coord(left-6), coord(ys.pos(t.v)+4), t.label)
	}
	b.WriteString("</g>\n")
	b.WriteString(`<g text-anchor="middle">` + "\n")
	for _, t := range xticks {
		fmt.Fprintf(b, `<text x="%s" y="%s">%s</text>`+"\n", coord(xs.pos(t.v)), coord(bottom+16), t.label)
	}
	fmt.Fprintf(b, `<text x="%s" y="%s" fill="#555">time since start</text>`+"\n", coord((left+right)/2), coord(bottom+34))
	mid := coord((top + bottom) / 2)
	title := "latency (log scale)"
	if textWidth(title, fontSize) > bottom-top {
		title = "latency"
	}
	fmt.Fprintf(b, `<text x="16" y="%[1]s" fill="#555" transform="rotate(-90 16 %[1]s)">%[2]s</text>`+"\n", mid, title)
	b.WriteString("</g>\n")
}

// writeSeries draws one polyline per series, or a dot for a series of one
// point, which a line cannot show.
func writeSeries(b *strings.Builder, series []plotted, xs linScale, ys logScale) {
	b.WriteString(`<g fill="none" stroke-width="1.75" stroke-linejoin="round">` + "\n")
	for _, s := range series {
		switch len(s.points) {
		case 0:
			continue
		case 1:
			p := s.points[0]
			fmt.Fprintf(b, `<circle cx="%s" cy="%s" r="3" fill="%s"/>`+"\n", coord(xs.pos(p.T)), coord(ys.pos(p.V)), s.color)
			continue
		}
		fmt.Fprintf(b, `<polyline stroke="%s"%s points="`, s.color, dashAttr(s.dash))
		last := ""
		for i, p := range s.points {
			xy := coord(xs.pos(p.T)) + "," + coord(ys.pos(p.V))
			if xy == last {
				continue // the same pixel again only makes the file bigger
			}
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(xy)
			last = xy
		}
		b.WriteString(`"/>` + "\n")
	}
	b.WriteString("</g>\n")
}

func dashAttr(dash string) string {
	if dash == "" {
		return ""
	}
	return ` stroke-dasharray="` + dash + `"`
}

// box is the space a label takes, to keep labels from overlapping.
type box struct{ x0, y0, x1, y1 float64 }

func (a box) overlaps(c box) bool {
	return a.x0 < c.x1 && c.x0 < a.x1 && a.y0 < c.y1 && c.y0 < a.y1
}

// writeBandLabels writes each band's label at the top of the band. A label
// wider than the space left by the previous one goes on a lower row, up to
// three; failing that it is cut to the band's width. It returns the space
// the labels take.
func writeBandLabels(b *strings.Builder, bands []Band, xs linScale, top float64) []box {
	var placed []box
	const rows, step = 3, 13.0
	var ends [rows]float64 // right end of the last label on each row
	for i := range ends {
		ends[i] = xs.x0
	}
	for _, bd := range bands {
		x0, x1 := xs.pos(bd.From)+4, xs.pos(bd.To)
		label := cleanText(bd.Label, runesFor(xs.x1-x0-4, smallSize))
		if label == "" {
			continue
		}
		row := -1
		for r := range ends {
			if ends[r] <= x0 {
				row = r
				break
			}
		}
		if row < 0 {
			// Cut to the band, and place it where it fits after all.
			label = truncate(label, runesFor(x1-x0-2, smallSize))
			for r := range ends {
				if ends[r] <= x0 {
					row = r
					break
				}
			}
			if label == "" || row < 0 {
				continue
			}
		}
		ends[row] = x0 + textWidth(label, smallSize) + 8
		base := top + 12 + float64(row)*step
		placed = append(placed, labelBox(x0, base, textWidth(label, smallSize), "start"))
		fmt.Fprintf(b, `<text x="%s" y="%s" fill="#444">`, coord(x0), coord(base))
		writeText(b, label)
		b.WriteString("</text>\n")
	}
	return placed
}

// writeLineLabels writes each reference line's label just above the line at
// the right, or, when another label is there, below it, or at the left.
// Labels already placed are kept clear of where possible.
func writeLineLabels(b *strings.Builder, lines []Line, ys logScale, xs linScale, placed []box) {
	left, right, top, bottom := xs.x0, xs.x1, ys.y1, ys.y0
	for _, l := range lines {
		label := cleanText(l.Label, runesFor(right-left-8, smallSize))
		if label == "" {
			continue
		}
		y, wd := ys.pos(l.V), textWidth(label, smallSize)
		type spot struct {
			x, base float64
			anchor  string
		}
		spots := [...]spot{
			{right - 4, y - 5, "end"}, {right - 4, y + 14, "end"},
			{left + 4, y - 5, "start"}, {left + 4, y + 14, "start"},
		}
		chosen := spots[0]
		if chosen.base-11 < top { // a line at the top of the plot: label below
			chosen = spots[1]
		}
		for _, sp := range spots {
			bx := labelBox(sp.x, sp.base, wd, sp.anchor)
			if bx.y0 < top || bx.y1 > bottom || overlapsAny(bx, placed) {
				continue
			}
			chosen = sp
			break
		}
		placed = append(placed, labelBox(chosen.x, chosen.base, wd, chosen.anchor))
		fmt.Fprintf(b, `<text x="%s" y="%s" fill="#444" text-anchor="%s">`, coord(chosen.x), coord(chosen.base), chosen.anchor)
		writeText(b, label)
		b.WriteString("</text>\n")
	}
}

func labelBox(x, base, width float64, anchor string) box {
	if anchor == "end" {
		x -= width
	}
	return box{x, base - 11, x + width, base + 3}
}

func overlapsAny(a box, placed []box) bool {
	for _, p := range placed {
		if a.overlaps(p) {
			return true
		}
	}
	return false
}

// writeLegend writes the legend rows starting at y = top: a sample of each
// series' line, then its name, greyed when the series has no data.
func writeLegend(b *strings.Builder, series []plotted, entries []entry, more, rows int, left, top float64) {
	if len(entries) == 0 && more == 0 {
		return
	}
	baseline := func(row int) float64 { return top + float64(row)*rowHeight + 12 }
	b.WriteString(`<g stroke-width="2">` + "\n")
	for _, e := range entries {
		s := series[e.series]
		y := coord(baseline(e.row) - 4)
		fmt.Fprintf(b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s"%s/>`+"\n",
			coord(e.x), y, coord(e.x+swatch), y, s.color, dashAttr(s.dash))
	}
	b.WriteString("</g>\n")
	moreX := left
	for _, e := range entries {
		s := series[e.series]
		fill := ""
		if len(s.points) == 0 {
			fill = ` fill="#777"`
		}
		fmt.Fprintf(b, `<text x="%s" y="%s"%s>`, coord(e.x+swatch+6), coord(baseline(e.row)), fill)
		writeText(b, s.legend)
		b.WriteString("</text>\n")
		if e.row == rows-1 {
			moreX = e.x + swatch + 6 + textWidth(s.legend, fontSize) + 18
		}
	}
	if more > 0 {
		fmt.Fprintf(b, `<text x="%s" y="%s" fill="#777">+%s more</text>`+"\n", coord(moreX), coord(baseline(rows-1)), strconv.Itoa(more))
	}
}
