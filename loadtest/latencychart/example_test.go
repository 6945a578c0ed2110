package latencychart_test

import (
	"bytes"
	"fmt"
	"log"
	"strings"

	"livecommerce/loadtest/latencychart"
)

func ExampleChart_WriteSVG() {
	var p99, p50 []latencychart.Point
	for s := range 60 {
		t := float64(s)
		p99 = append(p99, latencychart.Point{T: t, V: 20 + t/2})
		p50 = append(p50, latencychart.Point{T: t, V: 4 + t/10})
	}
	c := latencychart.Chart{
		Title: "purchase latency",
		Series: []latencychart.Series{
			{Name: "purchase p99", Points: p99},
			{Name: "purchase p50", Points: p50, Dashed: true},
		},
		Bands: []latencychart.Band{{From: 0, To: 10, Label: "warm-up"}},
		Lines: []latencychart.Line{{V: 50, Label: "purchase p99 target 50 ms"}},
	}
	// A report writes to a file, e.g. os.Create(filepath.Join(dir, "latency.svg")).
	var b bytes.Buffer
	if err := c.WriteSVG(&b); err != nil {
		log.Fatal(err)
	}
	fmt.Println(strings.Count(b.String(), "<polyline"), "lines")
	// Output: 2 lines
}
