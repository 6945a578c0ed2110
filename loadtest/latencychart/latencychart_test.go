package latencychart

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// element is one element of a parsed chart, with the text directly in it.
type element struct {
	name  string
	attrs map[string]string
	text  string
}

// render writes c and checks that the result is a well-formed SVG document
// with nothing active or external in it.
func render(t *testing.T, c Chart) (string, []element) {
	t.Helper()
	var b bytes.Buffer
	if err := c.WriteSVG(&b); err != nil {
		t.Fatalf("WriteSVG: %v", err)
	}
	svg := b.String()
	return svg, parseSVG(t, svg)
}

func parseSVG(t *testing.T, svg string) []element {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(svg))
	var (
		els   []element
		stack []int
	)
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("output is not well-formed XML: %v\n%s", err, svg)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			e := element{name: tok.Name.Local, attrs: map[string]string{}}
			if len(els) == 0 && (e.name != "svg" || tok.Name.Space != "http://www.w3.org/2000/svg") {
				t.Fatalf("root element is %v, want svg in the SVG namespace", tok.Name)
			}
			switch e.name {
			case "script", "foreignObject", "a", "image", "use", "style":
				t.Errorf("output has a <%s> element", e.name)
			}
			for _, a := range tok.Attr {
				if strings.HasPrefix(a.Name.Local, "on") || a.Name.Local == "href" {
					t.Errorf("<%s> has attribute %s", e.name, a.Name.Local)
				}
				e.attrs[a.Name.Local] = a.Value
			}
			els = append(els, e)
			stack = append(stack, len(els)-1)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				els[stack[len(stack)-1]].text += string(tok)
			}
		}
	}
	if len(els) == 0 {
		t.Fatalf("output has no elements:\n%s", svg)
	}
	return els
}

// checkNumbers fails the test when a coordinate is not a finite number.
func checkNumbers(t *testing.T, els []element) {
	t.Helper()
	for _, e := range els {
		for _, a := range []string{"x", "y", "x1", "y1", "x2", "y2", "cx", "cy", "width", "height", "points"} {
			v, ok := e.attrs[a]
			if !ok || strings.HasSuffix(v, "%") {
				continue
			}
			for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == ',' }) {
				n, err := strconv.ParseFloat(f, 64)
				if err != nil || math.IsNaN(n) || math.IsInf(n, 0) {
					t.Errorf("<%s %s=%q>: want finite numbers", e.name, a, v)
					break
				}
			}
		}
	}
}

// named returns the elements called name.
func named(els []element, name string) []element {
	var out []element
	for _, e := range els {
		if e.name == name {
			out = append(out, e)
		}
	}
	return out
}

// texts returns the text of every <text> element.
func texts(els []element) []string {
	var out []string
	for _, e := range named(els, "text") {
		out = append(out, e.text)
	}
	return out
}

func hasText(els []element, s string) bool {
	for _, txt := range texts(els) {
		if txt == s {
			return true
		}
	}
	return false
}

// polylinePoints parses a polyline's points attribute.
func polylinePoints(t *testing.T, e element) [][2]float64 {
	t.Helper()
	var pts [][2]float64
	for _, pair := range strings.Fields(e.attrs["points"]) {
		x, y, ok := strings.Cut(pair, ",")
		if !ok {
			t.Fatalf("bad point %q", pair)
		}
		fx, err1 := strconv.ParseFloat(x, 64)
		fy, err2 := strconv.ParseFloat(y, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("bad point %q", pair)
		}
		pts = append(pts, [2]float64{fx, fy})
	}
	return pts
}

// frameBottom is the y of the bottom edge of the plot.
func frameBottom(t *testing.T, els []element) float64 {
	t.Helper()
	for _, e := range named(els, "rect") {
		if e.attrs["fill"] == "none" {
			y, _ := strconv.ParseFloat(e.attrs["y"], 64)
			h, _ := strconv.ParseFloat(e.attrs["height"], 64)
			return y + h
		}
	}
	t.Fatal("no plot frame")
	return 0
}

// ramp returns n points a second apart, rising from v.
func ramp(n int, v float64) []Point {
	pts := make([]Point, n)
	for i := range pts {
		pts[i] = Point{T: float64(i), V: v * (1 + float64(i)/10)}
	}
	return pts
}

func sampleChart() Chart {
	return Chart{
		Title: "purchase and browse latency",
		Series: []Series{
			{Name: "purchase p99", Points: ramp(60, 8)},
			{Name: "purchase p50", Points: ramp(60, 2), Dashed: true},
			{Name: "browse p99", Points: ramp(60, 0.4)},
		},
		Bands: []Band{{From: 0, To: 10, Label: "warm-up"}, {From: 10, To: 60, Label: "step 1: 500 rps"}},
		Lines: []Line{{V: 50, Label: "purchase p99 target 50 ms"}},
	}
}

const hostile = "</text><script>alert(1)</script>\x00\x1b]0;x\x07\ufffe\u202e]]>\"'&"

// hostileClean is hostile as the chart should print it.
const hostileClean = "</text><script>alert(1)</script>]0;x]]>\"'&"

func TestWriteSVGWellFormed(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	many := make([]Series, 40)
	for i := range many {
		many[i] = Series{Name: fmt.Sprintf("endpoint %d p99", i), Points: ramp(10, float64(i+1))}
	}
	small, large := sampleChart(), sampleChart()
	small.Width, small.Height = 200, 200
	large.Width, large.Height = 4000, 4000
	tests := []struct {
		name string
		c    Chart
	}{
		{"typical", sampleChart()},
		{"zero Chart", Chart{}},
		{"series without points", Chart{Title: "t", Series: []Series{{Name: "a"}, {Name: "b", Points: []Point{}}}}},
		{"only a line", Chart{Lines: []Line{{V: 50, Label: "target"}}}},
		{"only a band", Chart{Bands: []Band{{From: 5, To: 20, Label: "warm-up"}}}},
		{"one point", Chart{Series: []Series{{Name: "a", Points: []Point{{T: 3, V: 12}}}}}},
		{"all latencies zero", Chart{Series: []Series{{Name: "a", Points: []Point{{0, 0}, {1, 0}, {2, -1}}}}}},
		{"non-finite everywhere", Chart{
			Series: []Series{{Name: "a", Points: []Point{{nan, 1}, {1, nan}, {inf, 2}, {2, -inf}, {-inf, inf}}}},
			Bands:  []Band{{From: nan, To: 5}, {From: 0, To: inf}},
			Lines:  []Line{{V: nan, Label: "nan"}, {V: -inf, Label: "-inf"}},
		}},
		{"extreme values", Chart{Series: []Series{{Name: "a", Points: []Point{{-1e12, 1e-300}, {1e12, 1e300}, {5, math.SmallestNonzeroFloat64}}}}}},
		{"backwards band", Chart{Bands: []Band{{From: 30, To: 10, Label: "b"}}, Series: []Series{{Points: ramp(40, 3)}}}},
		{"hostile", Chart{
			Title:  hostile,
			Series: []Series{{Name: hostile, Points: ramp(5, 1)}, {Name: hostile}},
			Bands:  []Band{{From: 0, To: 4, Label: hostile}},
			Lines:  []Line{{V: 3, Label: hostile}},
		}},
		{"many series", Chart{Series: many}},
		{"smallest size", small},
		{"largest size", large},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svg, els := render(t, tt.c)
			if strings.Contains(svg, "<script") {
				t.Errorf("output contains <script")
			}
			checkNumbers(t, els)
			root := els[0]
			wantW, wantH := tt.c.Width, tt.c.Height
			if wantW == 0 {
				wantW, wantH = defaultWidth, defaultHeight
			}
			if got, want := root.attrs["width"], strconv.Itoa(wantW); got != want {
				t.Errorf("width = %q, want %q", got, want)
			}
			if got, want := root.attrs["height"], strconv.Itoa(wantH); got != want {
				t.Errorf("height = %q, want %q", got, want)
			}
		})
	}
}

func TestHostileTextEscaped(t *testing.T) {
	tests := []struct {
		field string
		c     Chart
	}{
		{"title", Chart{Title: hostile}},
		{"series name", Chart{Series: []Series{{Name: hostile, Points: ramp(3, 1)}}}},
		{"band label", Chart{Bands: []Band{{From: 0, To: 60, Label: hostile}}}},
		{"line label", Chart{Lines: []Line{{V: 10, Label: hostile}}}},
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			svg, els := render(t, tt.c)
			if strings.Contains(svg, "<script") {
				t.Errorf("output contains <script")
			}
			// The markup survives as text, which shows it was escaped
			// rather than dropped or interpreted.
			if !hasText(els, hostileClean) {
				t.Errorf("no text element reads %q; texts: %q", hostileClean, texts(els))
			}
		})
	}
}

func TestTitleElement(t *testing.T) {
	_, els := render(t, Chart{Title: "a < b"})
	titles := named(els, "title")
	if len(titles) != 1 || titles[0].text != "a < b" {
		t.Errorf("got title elements %v, want one reading %q", titles, "a < b")
	}
}

func TestLongTextTruncated(t *testing.T) {
	long := strings.Repeat("ü", 500)
	_, els := render(t, Chart{
		Title:  long,
		Series: []Series{{Name: long, Points: ramp(3, 1)}},
		Bands:  []Band{{From: 0, To: 2, Label: long}},
		Lines:  []Line{{V: 1, Label: long}},
	})
	n := 0
	for _, txt := range texts(els) {
		if !strings.HasPrefix(txt, "ü") {
			continue
		}
		n++
		if got := utf8.RuneCountInString(txt); got > maxLabelRunes {
			t.Errorf("a label has %d runes, want at most %d", got, maxLabelRunes)
		}
		if !strings.HasSuffix(txt, "…") {
			t.Errorf("a cut label does not end in an ellipsis: %q", txt)
		}
	}
	if n != 4 {
		t.Errorf("found %d long labels, want 4 (title, legend, band, line)", n)
	}
}

func TestNoData(t *testing.T) {
	tests := []struct {
		name       string
		c          Chart
		wantNoData bool
		wantTexts  []string
	}{
		{"nothing", Chart{}, true, nil},
		{"empty series", Chart{Series: []Series{{Name: "purchase p99"}, {Name: ""}}}, true,
			[]string{"purchase p99 (no data)", "series 2 (no data)"}},
		{"only non-finite points", Chart{Series: []Series{{Name: "a", Points: []Point{{math.NaN(), 1}}}}}, true,
			[]string{"a (no data)"}},
		{"one series empty", Chart{Series: []Series{{Name: "a", Points: ramp(3, 1)}, {Name: "b"}}}, false,
			[]string{"a", "b (no data)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, els := render(t, tt.c)
			if got := hasText(els, "no data"); got != tt.wantNoData {
				t.Errorf("chart says \"no data\": %v, want %v", got, tt.wantNoData)
			}
			for _, want := range tt.wantTexts {
				if !hasText(els, want) {
					t.Errorf("no legend entry %q; texts: %q", want, texts(els))
				}
			}
		})
	}
}

func TestSeriesDrawn(t *testing.T) {
	c := sampleChart()
	c.Series = append(c.Series, Series{Name: "lonely", Points: []Point{{T: 30, V: 5}}})
	svg, els := render(t, c)
	lines := named(els, "polyline")
	if len(lines) != 3 {
		t.Fatalf("got %d polylines, want 3", len(lines))
	}
	colors := map[string]bool{}
	for i, l := range lines {
		colors[l.attrs["stroke"]] = true
		if got := len(polylinePoints(t, l)); got != 60 {
			t.Errorf("polyline %d has %d points, want 60", i, got)
		}
		_, dashed := l.attrs["stroke-dasharray"]
		if want := c.Series[i].Dashed; dashed != want {
			t.Errorf("polyline %d dashed: %v, want %v", i, dashed, want)
		}
	}
	if len(colors) != 3 {
		t.Errorf("got %d stroke colors for 3 series, want 3", len(colors))
	}
	if got := len(named(els, "circle")); got != 1 {
		t.Errorf("got %d circles for the one-point series, want 1", got)
	}
	for _, want := range []string{"purchase p99", "purchase p50", "browse p99", "lonely", "warm-up", "step 1: 500 rps", "purchase p99 target 50 ms", "purchase and browse latency"} {
		if !hasText(els, want) {
			t.Errorf("no text %q", want)
		}
	}
	for _, want := range []string{"1 ms", "10 ms", "0 s", "60 s"} {
		if !hasText(els, want) {
			t.Errorf("no axis label %q", want)
		}
	}
	if hasText(els, "no data") {
		t.Error("a chart with data says \"no data\"")
	}
	if !strings.Contains(svg, `stroke-dasharray="6 3"`) {
		t.Error("no dashed reference line")
	}
}

func TestPointsSortedAndNotMutated(t *testing.T) {
	pts := []Point{{T: 3, V: 1}, {T: 1, V: 2}, {T: 2, V: 3}, {T: 0, V: 4}}
	orig := append([]Point(nil), pts...)
	_, els := render(t, Chart{Series: []Series{{Name: "a", Points: pts}}})
	xy := polylinePoints(t, named(els, "polyline")[0])
	for i := 1; i < len(xy); i++ {
		if xy[i][0] <= xy[i-1][0] {
			t.Errorf("x of point %d is %v, after %v: want increasing", i, xy[i][0], xy[i-1][0])
		}
	}
	for i := range pts {
		if pts[i] != orig[i] {
			t.Fatalf("caller's points changed: got %v, want %v", pts, orig)
		}
	}
}

func TestNonPositiveAtFloor(t *testing.T) {
	_, els := render(t, Chart{Series: []Series{{Name: "a", Points: []Point{{0, 0}, {1, 10}, {2, -5}, {3, 1}, {4, math.Copysign(0, -1)}}}}})
	xy := polylinePoints(t, named(els, "polyline")[0])
	if len(xy) != 5 {
		t.Fatalf("got %d points, want 5", len(xy))
	}
	floor := frameBottom(t, els)
	for _, i := range []int{0, 2, 4} {
		if got := xy[i][1]; got != floor {
			t.Errorf("point %d at y %v, want the floor %v", i, got, floor)
		}
	}
	if xy[3][1] >= floor {
		t.Errorf("1 ms at y %v, want above the floor %v", xy[3][1], floor)
	}
}

func TestNonFinitePointsSkipped(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	pts := []Point{{0, 1}, {nan, 5}, {1, inf}, {2, nan}, {3, -inf}, {inf, 3}, {-inf, 3}, {4, 2}, {5, 3}}
	_, els := render(t, Chart{Series: []Series{{Name: "a", Points: pts}}})
	if got := len(polylinePoints(t, named(els, "polyline")[0])); got != 3 {
		t.Errorf("got %d points, want the 3 finite ones", got)
	}
}

func TestBadSize(t *testing.T) {
	tests := []struct {
		w, h    int
		wantErr bool
	}{
		{0, 0, false},
		{200, 200, false},
		{4000, 4000, false},
		{960, 0, false},
		{199, 480, true},
		{960, 199, true},
		{4001, 480, true},
		{960, 4001, true},
		{-1, 480, true},
		{0, -480, true},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		err := Chart{Width: tt.w, Height: tt.h}.WriteSVG(&b)
		if tt.wantErr {
			if !errors.Is(err, ErrSize) {
				t.Errorf("size %dx%d: got error %v, want ErrSize", tt.w, tt.h, err)
			}
			if b.Len() != 0 {
				t.Errorf("size %dx%d: wrote %d bytes with an error, want none", tt.w, tt.h, b.Len())
			}
			continue
		}
		if err != nil {
			t.Errorf("size %dx%d: got error %v, want none", tt.w, tt.h, err)
		}
	}
}

func TestFileSmall(t *testing.T) {
	c := sampleChart()
	c.Series = nil
	for i := range 8 {
		c.Series = append(c.Series, Series{Name: fmt.Sprintf("endpoint %d p99", i), Points: ramp(60, float64(i+1)), Dashed: i%2 == 1})
	}
	svg, _ := render(t, c)
	if len(svg) > 50_000 {
		t.Errorf("60 points x 8 series take %d bytes, want at most 50,000", len(svg))
	}
}

func TestLegendOverflow(t *testing.T) {
	const n = 200
	var series []Series
	for i := range n {
		series = append(series, Series{Name: fmt.Sprintf("series-%03d", i), Points: ramp(5, float64(i+1))})
	}
	_, els := render(t, Chart{Series: series})
	shown, more := 0, 0
	for _, txt := range texts(els) {
		if strings.HasPrefix(txt, "series-") {
			shown++
		}
		if rest, ok := strings.CutPrefix(txt, "+"); ok {
			fmt.Sscanf(rest, "%d more", &more)
		}
	}
	if more == 0 {
		t.Fatal("no \"+N more\" note for a legend that cannot fit")
	}
	if shown+more != n {
		t.Errorf("legend shows %d and leaves out %d, want a total of %d", shown, more, n)
	}
	if got := len(named(els, "polyline")); got != n {
		t.Errorf("got %d polylines, want %d: every series is drawn", got, n)
	}
	for _, e := range named(els, "rect") {
		if e.attrs["fill"] == "none" {
			if h, _ := strconv.ParseFloat(e.attrs["height"], 64); h < 200 {
				t.Errorf("plot is %v px tall, want the legend to leave it most of the room", h)
			}
		}
	}
}

func TestStyle(t *testing.T) {
	seen := map[string]bool{}
	for i := range 6 {
		color, dash := style(i, false)
		if seen[color] {
			t.Errorf("series %d repeats color %s", i, color)
		}
		seen[color] = true
		if dash != "" {
			t.Errorf("series %d: got dash %q, want solid", i, dash)
		}
		if _, d := style(i, true); d == "" {
			t.Errorf("series %d dashed: got a solid line", i)
		}
	}
	// Past the palette, colors repeat with other dashes.
	c0, d0 := style(0, false)
	c6, d6 := style(6, false)
	if c6 != c0 || d6 == d0 {
		t.Errorf("series 6: got %s %q, want color %s with a dash other than %q", c6, d6, c0, d0)
	}
}

type failingWriter struct{ err error }

func (w failingWriter) Write([]byte) (int, error) { return 0, w.err }

func TestWriteError(t *testing.T) {
	want := errors.New("disk full")
	err := sampleChart().WriteSVG(failingWriter{want})
	if !errors.Is(err, want) {
		t.Errorf("got %v, want it to wrap %v", err, want)
	}
}

func FuzzWriteSVG(f *testing.F) {
	f.Add("purchase p99", "warm-up", 1.0, 12.5)
	f.Add(hostile, hostile, math.NaN(), math.Inf(-1))
	f.Add("", "\xff\xfe", -1e12, 0.0)
	f.Add(strings.Repeat("<&>", 100), "]]>", 1e300, -1e300)
	f.Fuzz(func(t *testing.T, name, label string, tt, v float64) {
		c := Chart{
			Title:  name,
			Series: []Series{{Name: name, Points: []Point{{tt, v}, {tt + 1, v * 2}, {0, 1}}}, {Name: label}},
			Bands:  []Band{{From: tt, To: v, Label: label}},
			Lines:  []Line{{V: v, Label: label}},
		}
		svg, els := render(t, c)
		if strings.Contains(svg, "<script") {
			t.Errorf("output contains <script")
		}
		checkNumbers(t, els)
	})
}
