package latency

// Plots are small hand-made SVG files: no dependency, and any browser or
// image viewer opens them. vegeta's own plot is HTML with JavaScript.

import (
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/check"
)

const (
	plotW, plotH                       = 860, 380
	marginL, marginR, marginT, marginB = 80, 24, 48, 56
	histogramBins                      = 40
	// maxPlotPoints bounds the timeline's points (a stride samples the rest).
	maxPlotPoints = 20000
)

var svgEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&#39;")

func esc(s string) string { return svgEscaper.Replace(s) }

// ceilingLine is a budget ceiling or a measured percentile drawn across a plot.
type ceilingLine struct {
	label string
	at    time.Duration
	color string
	dash  bool
}

func (r *Result) ceilingLines() []ceilingLine {
	var out []ceilingLine
	if b := r.Budget; b != nil {
		for _, c := range []struct {
			n string
			d time.Duration
		}{{"p50", b.P50}, {"p95", b.P95}, {"p99", b.P99}, {"max", b.Max}} {
			if c.d > 0 {
				out = append(out, ceilingLine{label: c.n + " ceiling " + c.d.String(), at: c.d, color: "#c62828", dash: true})
			}
		}
	}
	return out
}

func (r *Result) percentileLines() []ceilingLine {
	if r.Requests == 0 {
		return nil
	}
	l := r.Latencies
	return []ceilingLine{
		{label: "p50 " + roundLatency(l.P50).String(), at: l.P50, color: "#1565c0"},
		{label: "p95 " + roundLatency(l.P95).String(), at: l.P95, color: "#6a1b9a"},
		{label: "p99 " + roundLatency(l.P99).String(), at: l.P99, color: "#ef6c00"},
	}
}

// latencyRange is the latency axis: up to the largest of the slowest
// sample and every ceiling, rounded up to a nice value.
func (r *Result) latencyRange() (top float64, step float64) {
	hi := 0.0
	for _, s := range r.Samples {
		hi = math.Max(hi, ms(s.Latency))
	}
	for _, c := range r.ceilingLines() {
		hi = math.Max(hi, ms(c.at))
	}
	if hi <= 0 {
		hi = 1
	}
	step = niceStep(hi*1.05, 6)
	return math.Ceil(hi*1.05/step) * step, step
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// niceStep is a 1, 2 or 5 x 10^k step that cuts span into about n parts.
func niceStep(span float64, n int) float64 {
	if span <= 0 || math.IsNaN(span) || math.IsInf(span, 0) {
		return 1
	}
	raw := span / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	switch norm := raw / mag; {
	case norm <= 1:
		return mag
	case norm <= 2:
		return 2 * mag
	case norm <= 5:
		return 5 * mag
	}
	return 10 * mag
}

func msLabel(v float64) string {
	return time.Duration(math.Round(v * float64(time.Millisecond) / 1000) * 1000).String()
}

func countLabel(v float64) string { return fmt.Sprintf("%g", v) }

func secondsLabel(v float64) string { return fmt.Sprintf("%gs", math.Round(v*1000)/1000) }

func outcomeColor(o check.Outcome) string {
	switch o {
	case check.Passed:
		return "#2e7d32"
	case check.Failed:
		return "#c62828"
	}
	return "#f9a825"
}

// frame draws the SVG header, title, axes, grid and tick labels; x and y
// map data to pixels.
type frame struct {
	w          io.Writer
	xMax, yMax float64
}

func (f frame) x(v float64) float64 {
	return marginL + v/f.xMax*float64(plotW-marginL-marginR)
}

func (f frame) y(v float64) float64 {
	return float64(plotH-marginB) - v/f.yMax*float64(plotH-marginT-marginB)
}

func (f frame) start(title, subtitle, xTitle, yTitle string, xStep, yStep float64, xLabel, yLabel func(float64) string) {
	fmt.Fprintf(f.w, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", plotW, plotH, plotW, plotH)
	fmt.Fprintf(f.w, `<rect width="%d" height="%d" fill="#ffffff"/>`+"\n", plotW, plotH)
	fmt.Fprintf(f.w, `<text x="%d" y="20" font-size="15" font-weight="bold">%s</text>`+"\n", marginL, esc(title))
	fmt.Fprintf(f.w, `<text x="%d" y="37" fill="#555555">%s</text>`+"\n", marginL, esc(subtitle))
	for v := 0.0; v <= f.yMax+yStep/1e6; v += yStep {
		y := f.y(v)
		fmt.Fprintf(f.w, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#e0e0e0"/>`+"\n", marginL, y, plotW-marginR, y)
		fmt.Fprintf(f.w, `<text x="%d" y="%.1f" text-anchor="end" fill="#333333">%s</text>`+"\n", marginL-6, y+4, esc(yLabel(v)))
	}
	for v := 0.0; v <= f.xMax+xStep/1e6; v += xStep {
		x := f.x(v)
		fmt.Fprintf(f.w, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#999999"/>`+"\n", x, plotH-marginB, x, plotH-marginB+5)
		fmt.Fprintf(f.w, `<text x="%.1f" y="%d" text-anchor="middle" fill="#333333">%s</text>`+"\n", x, plotH-marginB+18, esc(xLabel(v)))
	}
	fmt.Fprintf(f.w, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#333333"/>`+"\n", marginL, plotH-marginB, plotW-marginR, plotH-marginB)
	fmt.Fprintf(f.w, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#333333"/>`+"\n", marginL, marginT, marginL, plotH-marginB)
	fmt.Fprintf(f.w, `<text x="%d" y="%d" text-anchor="middle">%s</text>`+"\n", (plotW+marginL-marginR)/2, plotH-12, esc(xTitle))
	fmt.Fprintf(f.w, `<text x="16" y="%d" text-anchor="middle" transform="rotate(-90 16 %d)">%s</text>`+"\n", (plotH)/2, (plotH)/2, esc(yTitle))
}

func (f frame) end() { fmt.Fprintln(f.w, "</svg>") }

func (r *Result) titles(kind string) (string, string) {
	name := "budget"
	if r.Budget != nil {
		name = "budget " + r.Budget.Name
	}
	title := fmt.Sprintf("%s: %s (%s)", name, kind, r.Outcome)
	sub := fmt.Sprintf("%d requests, %s of %s req/s, success %s", r.Requests, fmtRate(r.AchievedRate), fmtRate(r.RequestedRate), pct(r.SuccessRatio))
	if r.Case != nil {
		sub = fmt.Sprintf("%s %s%s, entry %s; %s", r.Method, r.Host, r.Case.Request.Path, r.Case.Entry, sub)
	}
	return title, sub
}

// WriteHistogram writes the latency histogram as SVG: counts per latency
// bin, the budget's ceilings (dashed red) and the measured p50/p95/p99.
func (r *Result) WriteHistogram(w io.Writer) error {
	top, xStep := r.latencyRange()
	bins := make([]int, histogramBins)
	width := top / histogramBins
	for _, s := range r.Samples {
		i := int(ms(s.Latency) / width)
		bins[min(max(i, 0), histogramBins-1)]++
	}
	most := 1
	for _, n := range bins {
		most = max(most, n)
	}
	yStep := math.Max(1, niceStep(float64(most), 5))
	f := frame{w: &errWriter{w: w}, xMax: top, yMax: math.Ceil(float64(most)/yStep) * yStep}
	title, sub := r.titles("latency histogram")
	f.start(title, sub, "latency", "requests", xStep, yStep, msLabel, countLabel)
	color := outcomeColor(r.Outcome)
	for i, n := range bins {
		if n == 0 {
			continue
		}
		x0, x1 := f.x(float64(i)*width), f.x(float64(i+1)*width)
		y := f.y(float64(n))
		fmt.Fprintf(f.w, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s" fill-opacity="0.75"><title>%s-%s: %d</title></rect>`+"\n",
			x0+0.5, y, math.Max(x1-x0-1, 1), float64(plotH-marginB)-y, color, msLabel(float64(i)*width), msLabel(float64(i+1)*width), n)
	}
	r.verticalLines(f, append(r.ceilingLines(), r.percentileLines()...))
	f.end()
	return f.w.(*errWriter).err
}

func (r *Result) verticalLines(f frame, lines []ceilingLine) {
	for i, c := range lines {
		x := f.x(ms(c.at))
		dash := ""
		if c.dash {
			dash = ` stroke-dasharray="6 4"`
		}
		fmt.Fprintf(f.w, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s" stroke-width="1.5"%s/>`+"\n", x, marginT, x, plotH-marginB, c.color, dash)
		fmt.Fprintf(f.w, `<text x="%.1f" y="%d" fill="%s" font-size="11">%s</text>`+"\n", x+3, marginT+12+12*(i%6), c.color, esc(c.label))
	}
}

// WriteTimeline writes latency over time as SVG: one point per request at
// its start time (green success, red miss, a cross for no response), the
// budget's ceilings as dashed lines.
func (r *Result) WriteTimeline(w io.Writer) error {
	top, yStep := r.latencyRange()
	end := 0.0
	for _, s := range r.Samples {
		end = math.Max(end, s.Offset.Seconds())
	}
	if r.Plan.Duration > 0 {
		end = math.Max(end, r.Plan.Duration.Seconds())
	}
	if end <= 0 {
		end = 1
	}
	xStep := niceStep(end, 8)
	f := frame{w: &errWriter{w: w}, xMax: math.Ceil(end/xStep) * xStep, yMax: top}
	title, sub := r.titles("latency over time")
	f.start(title, sub, "time since the first request", "latency", xStep, yStep, secondsLabel, msLabel)
	stride := max(1, len(r.Samples)/maxPlotPoints)
	for i := 0; i < len(r.Samples); i += stride {
		s := r.Samples[i]
		x, y := f.x(s.Offset.Seconds()), f.y(ms(s.Latency))
		tip := fmt.Sprintf("#%d +%s: %d from %s in %s", s.Seq, roundLatency(s.Offset), s.Status, s.ServedBy, roundLatency(s.Latency))
		if s.Error != "" {
			tip += ": " + s.Error
		}
		switch {
		case s.Status == 0:
			fmt.Fprintf(f.w, `<path d="M%.1f %.1fl6 6m0 -6l-6 6" transform="translate(-3 -3)" stroke="#c62828" stroke-width="1.5"><title>%s</title></path>`+"\n", x, y, esc(tip))
		case s.Success:
			fmt.Fprintf(f.w, `<circle cx="%.1f" cy="%.1f" r="2.5" fill="#2e7d32"><title>%s</title></circle>`+"\n", x, y, esc(tip))
		default:
			fmt.Fprintf(f.w, `<circle cx="%.1f" cy="%.1f" r="3" fill="#c62828"><title>%s</title></circle>`+"\n", x, y, esc(tip))
		}
	}
	for i, c := range r.ceilingLines() {
		y := f.y(ms(c.at))
		fmt.Fprintf(f.w, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s" stroke-width="1.5" stroke-dasharray="6 4"/>`+"\n", marginL, y, plotW-marginR, y, c.color)
		fmt.Fprintf(f.w, `<text x="%d" y="%.1f" text-anchor="end" fill="%s" font-size="11">%s</text>`+"\n", plotW-marginR-4-110*(i%2), y-4, c.color, esc(c.label))
	}
	f.end()
	return f.w.(*errWriter).err
}

// errWriter keeps the first write error so drawing code stays linear.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return len(p), nil
	}
	n, err := e.w.Write(p)
	if err != nil {
		e.err = err
	}
	return n, nil
}
