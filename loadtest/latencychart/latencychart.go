// Package latencychart draws latency over the time of a load-generator run
// as a self-contained SVG file for the run's report folder.
//
// The y axis is logarithmic because one run's latencies range from a tenth
// of a millisecond to seconds, and a linear axis would flatten everything
// but the worst spike. The file has no scripts, fonts or links, so a browser
// and GitHub show it the same way, and every piece of text in it is cleaned
// and escaped, so a series name taken from user input cannot break it.
package latencychart

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Point is one sample: T seconds since the start of the run, V the latency
// in milliseconds.
type Point struct{ T, V float64 }

// Series is one line on the chart.
type Series struct {
	Name   string  // legend text, e.g. "purchase p99"
	Points []Point // in any order; sorted by T when drawn
	Dashed bool    // e.g. for p50 lines next to solid p99 lines
}

// Band shades a span of the x axis, e.g. the warm-up or a step of a
// capacity search, labelled at the top.
type Band struct {
	From, To float64
	Label    string
}

// Line is a horizontal reference line, e.g. a target
// "purchase p99 target 50 ms".
type Line struct {
	V     float64
	Label string
}

// Chart is everything drawn in one SVG file.
type Chart struct {
	Title  string
	Series []Series
	Bands  []Band
	Lines  []Line
	// Width and Height are in pixels, each from 200 to 4000; 0 takes the
	// default, 960 wide and 480 tall.
	Width, Height int
}

// ErrSize: Width or Height is outside 200..4000.
var ErrSize = errors.New("latencychart: size out of range")

const (
	defaultWidth  = 960
	defaultHeight = 480
	minSize       = 200
	maxSize       = 4000

	// maxAbsT bounds the time of a point, about 30,000 years: beyond it
	// the arithmetic of the x axis would lose its precision, and no run
	// lasts that long.
	maxAbsT = 1e12

	fontSize  = 12.0
	smallSize = 11.0
	titleSize = 15.0
	rowHeight = 18.0 // of a legend row
	swatch    = 28.0 // length of a legend's line sample
)

// WriteSVG writes the chart as one SVG document. It fails only on a bad size
// or a failed write: odd data (no points, NaN, zero latencies, hostile
// names) still makes a well-formed chart.
func (c Chart) WriteSVG(w io.Writer) error {
	width, height := c.Width, c.Height
	if width == 0 {
		width = defaultWidth
	}
	if height == 0 {
		height = defaultHeight
	}
	if width < minSize || width > maxSize {
		return fmt.Errorf("%w: width %d, want %d..%d", ErrSize, width, minSize, maxSize)
	}
	if height < minSize || height > maxSize {
		return fmt.Errorf("%w: height %d, want %d..%d", ErrSize, height, minSize, maxSize)
	}
	var b strings.Builder
	c.render(&b, float64(width), float64(height))
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("latencychart: write svg: %w", err)
	}
	return nil
}

// plotted is a series ready to draw.
type plotted struct {
	legend string  // cleaned and cut to fit, with "(no data)" when empty
	points []Point // finite, sorted by T
	color  string
	dash   string // stroke-dasharray; empty for a solid line
}

// extent accumulates the range of the data.
type extent struct {
	tmin, tmax float64
	vmin, vmax float64 // of positive latencies only
	hasT, hasV bool
}

func (e *extent) addT(t float64) {
	if !e.hasT {
		e.tmin, e.tmax, e.hasT = t, t, true
	}
	e.tmin, e.tmax = min(e.tmin, t), max(e.tmax, t)
}

func (e *extent) addV(v float64) {
	if !(v > 0) {
		return
	}
	if !e.hasV {
		e.vmin, e.vmax, e.hasV = v, v, true
	}
	e.vmin, e.vmax = min(e.vmin, v), max(e.vmax, v)
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func usableTime(t float64) bool { return finite(t) && math.Abs(t) <= maxAbsT }

// prepare keeps the data that can be drawn: finite points within maxAbsT
// sorted by time, finite lines, finite bands the right way round sorted by
// start. It returns the extent of all that.
func (c Chart) prepare() (series []plotted, lines []Line, bands []Band, ext extent) {
	series = make([]plotted, len(c.Series))
	for i, s := range c.Series {
		p := &series[i]
		p.color, p.dash = style(i, s.Dashed)
		for _, pt := range s.Points {
			if !usableTime(pt.T) || !finite(pt.V) {
				continue
			}
			p.points = append(p.points, pt)
			ext.addT(pt.T)
			ext.addV(pt.V)
		}
		slices.SortStableFunc(p.points, func(a, b Point) int { return cmp.Compare(a.T, b.T) })
	}
	for _, l := range c.Lines {
		if finite(l.V) {
			lines = append(lines, l)
			ext.addV(l.V)
		}
	}
	for _, bd := range c.Bands {
		if !usableTime(bd.From) || !usableTime(bd.To) {
			continue
		}
		if bd.From > bd.To {
			bd.From, bd.To = bd.To, bd.From
		}
		bands = append(bands, bd)
		ext.addT(bd.From)
		ext.addT(bd.To)
	}
	slices.SortStableFunc(bands, func(a, b Band) int { return cmp.Compare(a.From, b.From) })
	return series, lines, bands, ext
}

// render writes the document into b. Its parts are laid out top to bottom:
// title, plot (bands, gridlines, reference lines, series, labels), x axis,
// legend.
func (c Chart) render(b *strings.Builder, w, h float64) {
	series, lines, bands, ext := c.prepare()

	// Layout, in pixels.
	const pad = 12.0
	fullTitle := cleanText(c.Title, maxLabelRunes)
	top := 16.0
	if fullTitle != "" {
		top = 44
	}
	left, right := 78.0, w-20
	for i, s := range c.Series {
		series[i].legend = legendText(s.Name, i, len(series[i].points) == 0, right-left-swatch-6)
	}
	// The legend may take up to 40% of what is below the title; beyond
	// that it says how many series it left out.
	const axisBlock = 46.0 // tick labels and axis title under the plot
	maxRows := max(1, int(0.4*(h-top-axisBlock-8)/rowHeight))
	legend, more, rows := layoutLegend(series, left, right, maxRows)
	bottom := h - 8 - axisBlock - float64(rows)*rowHeight

	vlo, vhi := latencyRange(ext.vmin, ext.vmax, ext.hasV)
	ys := logScale{lo: vlo, hi: vhi, y0: bottom, y1: top}
	tmin, tmax := 0.0, 60.0 // a minute of nothing, when there is nothing
	if ext.hasT {
		tmin, tmax = ext.tmin, ext.tmax
	}
	tlo, thi, step := timeRange(tmin, tmax, max(2, int((right-left)/80)))
	xticks := timeTicks(tlo, thi, step)
	// The last tick's label is centred on the right edge of the plot;
	// make room for its right half.
	if half := textWidth(xticks[len(xticks)-1].label, fontSize) / 2; half+4 > w-right {
		right = w - half - 4
	}
	xs := linScale{lo: tlo, hi: thi, x0: left, x1: right}

	fmt.Fprintf(b, `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="%[1]s" height="%[2]s" viewBox="0 0 %[1]s %[2]s" font-family="Helvetica, Arial, sans-serif" font-size="%[3]s" fill="#222">
<title>`, coord(w), coord(h), coord(fontSize))
	if fullTitle != "" {
		writeText(b, fullTitle)
	} else {
		b.WriteString("Latency over time")
	}
	b.WriteString("</title>\n")
	// An opaque background keeps the chart readable on GitHub's dark theme.
	b.WriteString(`<rect width="100%" height="100%" fill="#fff"/>` + "\n")
	if fullTitle != "" {
		// Bold text runs wider than the usual estimate. The title lines up
		// with the plot unless it needs the room to the left of it too.
		x, title := left, fullTitle
		if textWidth(title, titleSize*1.1) > w-left-pad {
			x, title = pad, truncate(title, runesFor(w-2*pad, titleSize*1.1))
		}
		fmt.Fprintf(b, `<text x="%s" y="28" font-size="%s" font-weight="bold">`, coord(x), coord(titleSize))
		writeText(b, title)
		b.WriteString("</text>\n")
	}

	writeBands(b, bands, xs, top, bottom)
	writeGrid(b, ys, xs, latencyTicks(vlo, vhi, bottom-top), xticks, top, bottom)
	for _, l := range lines {
		y := coord(ys.pos(l.V))
		fmt.Fprintf(b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#555" stroke-width="1.25" stroke-dasharray="6 3"/>`+"\n",
			coord(left), y, coord(right), y)
	}
	writeSeries(b, series, xs, ys)

	// Labels go over the data, each with a white halo, so that neither
	// hides the other.
	b.WriteString(`<g font-size="11" stroke="#fff" stroke-width="3" stroke-linejoin="round" paint-order="stroke">` + "\n")
	placed := writeBandLabels(b, bands, xs, top)
	writeLineLabels(b, lines, ys, xs, placed)
	b.WriteString("</g>\n")
	if !slices.ContainsFunc(series, func(s plotted) bool { return len(s.points) > 0 }) {
		fmt.Fprintf(b, `<text x="%s" y="%s" font-size="16" fill="#777" text-anchor="middle">no data</text>`+"\n",
			coord((left+right)/2), coord((top+bottom)/2))
	}

	writeLegend(b, series, legend, more, rows, left, bottom+axisBlock)
	b.WriteString("</svg>\n")
}

// style picks a series' color and dashes. The colors are the Okabe-Ito
// palette, which stays distinct under the common kinds of color blindness,
// without its yellow (unreadable on white) and black (kept for text). Past
// six series the colors repeat with other dash patterns.
func style(i int, dashed bool) (color, dash string) {
	colors := [...]string{"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9"}
	// Solid and dashed variants of each round of colors.
	dashes := [...][2]string{{"", "7 4"}, {"2 3", "9 3 2 3"}, {"12 3", "2 3 2 3 8 3"}}
	color = colors[i%len(colors)]
	d := dashes[i/len(colors)%len(dashes)]
	if dashed {
		return color, d[1]
	}
	return color, d[0]
}

// legendText is the legend entry of series i, fitting in width pixels.
func legendText(name string, i int, empty bool, width float64) string {
	name = cleanText(name, maxLabelRunes)
	if name == "" {
		name = "series " + strconv.Itoa(i+1)
	}
	limit := runesFor(width, fontSize)
	if empty {
		const suffix = " (no data)"
		return truncate(name, max(limit-len(suffix), 1)) + suffix
	}
	return truncate(name, limit)
}

// entry places one legend entry; x is where its line sample starts.
type entry struct {
	series int
	x      float64
	row    int
}

// moreWidth is the room kept at the end of the last legend row for a note
// such as "+12 more".
const moreWidth = 80.0

// layoutLegend flows the legend entries into rows between left and right.
// When they need more than maxRows rows, it keeps what fits in maxRows with
// room for a note, and returns how many were left out.
func layoutLegend(series []plotted, left, right float64, maxRows int) (entries []entry, more, rows int) {
	x, row := left, 0
	for i, s := range series {
		wd := swatch + 6 + textWidth(s.legend, fontSize)
		if x > left && x+wd > right {
			row, x = row+1, left
		}
		entries = append(entries, entry{series: i, x: x, row: row})
		x += wd + 18
	}
	if len(entries) == 0 {
		return nil, 0, 0
	}
	rows = row + 1
	if rows <= maxRows {
		return entries, 0, rows
	}
	kept := entries[:0]
	for _, e := range entries {
		end := e.x + swatch + 6 + textWidth(series[e.series].legend, fontSize)
		if e.row < maxRows-1 || (e.row == maxRows-1 && end+18+moreWidth <= right) {
			kept = append(kept, e)
		}
	}
	return kept, len(series) - len(kept), maxRows
}
