package latency

// Plots are small hand-made SVG files: no dependency, and any browser or
// image viewer opens them. vegeta's own plot is HTML with JavaScript.

import (
	"fmt"
	"io"
	"math"
	"strings"
	"time"
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

// percentileColor: a ceiling (dashed) and its measured value (solid) share a colour.
var percentileColor = map[string]string{"p50": "#2b8a3e", "p95": "#862e9c", "p99": "#e8590c", "max": "#495057"}

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
				out = append(out, ceilingLine{label: c.n + " ceiling " + c.d.String(), at: c.d, color: percentileColor[c.n], dash: true})
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
		{label: "p50 measured " + roundLatency(l.P50).String(), at: l.P50, color: percentileColor["p50"]},
		{label: "p95 measured " + roundLatency(l.P95).String(), at: l.P95, color: percentileColor["p95"]},
		{label: "p99 measured " + roundLatency(l.P99).String(), at: l.P99, color: percentileColor["p99"]},
		{label: "max measured " + roundLatency(l.Max).String(), at: l.Max, color: percentileColor["max"]},
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
	return time.Duration(math.Round(v*float64(time.Millisecond)/1000) * 1000).String()
}

func countLabel(v float64) string { return fmt.Sprintf("%g", v) }

func secondsLabel(v float64) string { return fmt.Sprintf("%gs", math.Round(v*1000)/1000) }

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

// WriteHistogram writes the latency histogram as SVG: requests per latency
// bin (successes blue, misses red, stacked), the budget's ceilings
// (dashed) and the measured percentiles (solid, same colour), named in a
// legend.
func (r *Result) WriteHistogram(w io.Writer) error {
	top, xStep := r.latencyRange()
	ok := make([]int, histogramBins)
	miss := make([]int, histogramBins)
	width := top / histogramBins
	for _, s := range r.Samples {
		i := min(max(int(ms(s.Latency)/width), 0), histogramBins-1)
		if s.Success {
			ok[i]++
		} else {
			miss[i]++
		}
	}
	most := 1
	for i := range ok {
		most = max(most, ok[i]+miss[i])
	}
	// Headroom above the tallest bar for the legend.
	yStep := math.Max(1, niceStep(float64(most)*1.5, 5))
	f := frame{w: &errWriter{w: w}, xMax: top, yMax: math.Ceil(float64(most)*1.5/yStep) * yStep}
	title, sub := r.titles("latency histogram")
	f.start(title, sub, "latency", "requests", xStep, yStep, msLabel, countLabel)
	for i := range ok {
		x0, x1 := f.x(float64(i)*width), f.x(float64(i+1)*width)
		base := 0
		for _, part := range []struct {
			n           int
			color, what string
		}{{ok[i], colorSuccess, "successes"}, {miss[i], colorMiss, "misses"}} {
			if part.n == 0 {
				continue
			}
			y0, y1 := f.y(float64(base)), f.y(float64(base+part.n))
			fmt.Fprintf(f.w, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s-%s: %d %s</title></rect>`+"\n",
				x0+0.5, y1, math.Max(x1-x0-1, 1), y0-y1, part.color, msLabel(float64(i)*width), msLabel(float64(i+1)*width), part.n, part.what)
			base += part.n
		}
	}
	legend := []legendItem{{label: "successes", color: colorSuccess, box: true}, {label: "misses", color: colorMiss, box: true}}
	for _, c := range append(r.ceilingLines(), r.percentileLines()...) {
		x := f.x(ms(c.at))
		fmt.Fprintf(f.w, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s" stroke-width="1.5"%s/>`+"\n", x, marginT, x, plotH-marginB, c.color, dashAttr(c.dash))
		legend = append(legend, legendItem{label: c.label, color: c.color, dash: c.dash})
	}
	f.legend(legend)
	f.end()
	return f.w.(*errWriter).err
}

const (
	colorSuccess = "#4c6ef5"
	colorMiss    = "#c62828"
)

func dashAttr(dash bool) string {
	if dash {
		return ` stroke-dasharray="6 4"`
	}
	return ""
}

// legendItem is one legend row: a box (bars), a line (ceilings,
// percentiles), a dot or a cross (timeline points).
type legendItem struct {
	label, color string
	box, dash    bool
	dot, cross   bool
}

// legend draws the items in a box at the plot's top right.
func (f frame) legend(items []legendItem) {
	const rowH, boxW = 14, 180
	x := float64(plotW - marginR - boxW - 4)
	y := float64(marginT + 4)
	fmt.Fprintf(f.w, `<rect x="%.1f" y="%.1f" width="%d" height="%d" fill="#ffffff" fill-opacity="0.9" stroke="#bdbdbd"/>`+"\n", x, y, boxW, rowH*len(items)+8)
	for i, it := range items {
		cy := y + 4 + float64(rowH*i) + rowH/2
		switch {
		case it.box:
			fmt.Fprintf(f.w, `<rect x="%.1f" y="%.1f" width="18" height="9" fill="%s"/>`+"\n", x+6, cy-4.5, it.color)
		case it.dot:
			fmt.Fprintf(f.w, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`+"\n", x+15, cy, it.color)
		case it.cross:
			fmt.Fprintf(f.w, `<path d="M%.1f %.1fl6 6m0 -6l-6 6" stroke="%s" stroke-width="1.5"/>`+"\n", x+12, cy-3, it.color)
		default:
			fmt.Fprintf(f.w, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="1.5"%s/>`+"\n", x+6, cy, x+24, cy, it.color, dashAttr(it.dash))
		}
		fmt.Fprintf(f.w, `<text x="%.1f" y="%.1f" font-size="11" fill="#333333">%s</text>`+"\n", x+30, cy+4, esc(it.label))
	}
}

// WriteTimeline writes latency over time as SVG: one point per request at
// its start time (blue success, red miss, a red cross for no response) and
// the budget's ceilings as dashed lines, so a person sees when the latency
// crossed them.
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
	legend := []legendItem{{label: "success", color: colorSuccess, dot: true}, {label: "miss", color: colorMiss, dot: true},
		{label: "no response", color: colorMiss, cross: true}}
	for _, c := range r.ceilingLines() {
		y := f.y(ms(c.at))
		fmt.Fprintf(f.w, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s" stroke-width="1.5"%s/>`+"\n", marginL, y, plotW-marginR, y, c.color, dashAttr(c.dash))
		legend = append(legend, legendItem{label: c.label, color: c.color, dash: c.dash})
	}
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
			fmt.Fprintf(f.w, `<path d="M%.1f %.1fl6 6m0 -6l-6 6" stroke="%s" stroke-width="1.5"><title>%s</title></path>`+"\n", x-3, y-3, colorMiss, esc(tip))
		case s.Success:
			fmt.Fprintf(f.w, `<circle cx="%.1f" cy="%.1f" r="2.5" fill="%s"><title>%s</title></circle>`+"\n", x, y, colorSuccess, esc(tip))
		default:
			fmt.Fprintf(f.w, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"><title>%s</title></circle>`+"\n", x, y, colorMiss, esc(tip))
		}
	}
	f.legend(legend)
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
