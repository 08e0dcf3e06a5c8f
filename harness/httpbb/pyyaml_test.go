package httpbb

import (
	"strings"
	"testing"
)

// Each value's JSON is what PyYAML's safe_load and json.dumps(...,
// allow_nan=False) give (checked once with PyYAML 6 and pinned here);
// "error" where httpbb could not send it.
func TestJSONBodyScalarsAsPyYAML(t *testing.T) {
	cases := []struct{ yaml, json string }{
		{"yes", "true"}, {"No", "false"}, {"on", "true"}, {"OFF", "false"}, {"true", "true"},
		{"~", "null"}, {"null", "null"}, {"", "null"},
		{"1e5", `"1e5"`}, {"1.0e5", `"1.0e5"`}, {"1.0e+5", "100000.0"}, {"1.5", "1.5"}, {"1.", "1.0"},
		{"0.1e-7", "1e-08"}, {".5", "0.5"}, {"0.0001", "0.0001"}, {"0.00001", "1e-05"},
		{"12345678901234567.0", "1.2345678901234568e+16"}, {"100.0", "100.0"}, {"1:30.5", "90.5"},
		{"0x1F", "31"}, {"0o17", `"0o17"`}, {"017", "15"}, {"0b101", "5"}, {"1_000", "1000"},
		{"1:30", "90"}, {"12:30:45", "45045"}, {"+12", "12"}, {"-0", "0"}, {"007", "7"}, {"08", `"08"`},
		{"'yes'", `"yes"`}, {"!!str 12", `"12"`}, {"!!int '12'", "12"}, {"!!float 1", "1.0"},
		{`"tab\there \"q\" \\ \u007f"`, `"tab\there \"q\" \\ \u007f"`},
		{"-.inf", "error"}, {".NaN", "error"}, {"2024-01-02", "error"}, {"!!binary aGk=", "error"},
	}
	for _, c := range cases {
		doc := "https://a.org:\n- path: /\n  method: POST\n  assert_status: 200\n  json_body: {a: " + c.yaml + "}\n"
		tests, _, err := Parse("s.yaml", []byte(doc))
		if c.json == "error" {
			if err == nil || !strings.Contains(err.Error(), "s.yaml:5:") {
				t.Errorf("%s: error %v, want one at s.yaml:5", c.yaml, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.yaml, err)
			continue
		}
		if want := `{"a": ` + c.json + `}`; tests[0].Body != want {
			t.Errorf("%s: body %s, want %s", c.yaml, tests[0].Body, want)
		}
	}
}

func TestJSONBodyShapes(t *testing.T) {
	cases := []struct{ yaml, json string }{
		{"{}", "{}"},
		{"[]", "[]"},
		{"[1, [2, {}]]", "[1, [2, {}]]"},
		{`"just a string"`, `"just a string"`},
		{"{1: a, 2.5: b, true: c, null: d}", `{"1": "c", "2.5": "b", "null": "d"}`}, // 1 == True in Python
		{"{1.0: a, '1': b, 0: c, false: d, 3: e}", `{"1.0": "a", "1": "b", "0": "d", "3": "e"}`},
		{"{a: 1, b: 2, a: 3}", `{"a": 3, "b": 2}`},
		{"&x {a: 1}", `{"a": 1}`},
	}
	for _, c := range cases {
		doc := "https://a.org:\n- path: /\n  method: POST\n  assert_status: 200\n  json_body: " + c.yaml + "\n"
		tests, _, err := Parse("s.yaml", []byte(doc))
		if err != nil {
			t.Errorf("%s: %v", c.yaml, err)
			continue
		}
		if tests[0].Body != c.json || tests[0].ContentType != "application/json" {
			t.Errorf("%s: body %s (%s), want %s", c.yaml, tests[0].Body, tests[0].ContentType, c.json)
		}
	}
	// An alias is followed; a null body is no body, with a warning.
	tests, ws, err := Parse("s.yaml", []byte("https://a.org:\n- path: /\n  method: POST\n  assert_status: 200\n  json_body: {a: &v [1, 2], b: *v}\n"+
		"- path: /n\n  method: POST\n  assert_status: 200\n  json_body:\n"))
	if err != nil {
		t.Fatal(err)
	}
	if tests[0].Body != `{"a": [1, 2], "b": [1, 2]}` || tests[1].Body != "" || tests[1].ContentType != "" {
		t.Errorf("bodies %q %q", tests[0].Body, tests[1].Body)
	}
	if len(ws) != 1 || !strings.HasPrefix(ws[0].String(), "s.yaml:9:13: warning: json_body is null") {
		t.Errorf("warnings %v", ws)
	}
}

func TestFormBody(t *testing.T) {
	doc := "https://a.org:\n- path: /\n  method: POST\n  assert_status: 200\n" +
		"  form_body: {q: 'a b&c=d/é', n: 5, f: 0.5, ok: yes, list: [x, y], skip: null, tilde: a~b_c.d-e}\n"
	tests, _, err := Parse("s.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	// As requests' data= encodes a dict: urlencode(doseq=True), None
	// values dropped, str() of the others.
	want := "q=a+b%26c%3Dd%2F%C3%A9&n=5&f=0.5&ok=True&list=x&list=y&tilde=a~b_c.d-e"
	if tests[0].Body != want || tests[0].ContentType != "application/x-www-form-urlencoded" {
		t.Errorf("form body %q (%s), want %q", tests[0].Body, tests[0].ContentType, want)
	}
}

func TestPyFloatRepr(t *testing.T) {
	a, b := 0.1, 0.2
	for f, want := range map[float64]string{
		1: "1.0", -2.5: "-2.5", 1e16: "1e+16", 1e15: "1000000000000000.0", 1e-4: "0.0001", 1.5e-5: "1.5e-05",
		a + b: "0.30000000000000004", 1e300: "1e+300",
	} {
		if got := pyFloatRepr(f); got != want {
			t.Errorf("repr(%v) = %s, want %s", f, got, want)
		}
	}
}
