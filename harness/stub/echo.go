package stub

import (
	"slices"
	"strconv"
	"unicode/utf8"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/identity"
)

// Echo is the JSON body a stub answers where MediaWiki would serve a page:
// who answered and what request it saw (gateway-api's echo server is the
// model). Decode it with encoding/json.
type Echo struct {
	Identity   identity.Identity   `json:"identity"`
	Status     int                 `json:"status"`
	Method     string              `json:"method"`
	Host       string              `json:"host"`
	URI        string              `json:"uri"`
	Headers    map[string][]string `json:"headers"`
	BodyLength int64               `json:"bodyLength"`
	RemoteAddr string              `json:"remoteAddr"`
	// ServedBy is set on /w/api.php when the request asks for servedby, as
	// MediaWiki's API does: the pod name.
	ServedBy string `json:"servedby,omitempty"`
	// Fault says which injected fault decided the status, if any.
	Fault string `json:"fault,omitempty"`
}

// echoFields is what the hot path knows about a request; it is rendered
// by appendEcho without reflection.
type echoFields struct {
	status     int
	method     string
	host       string
	uri        string
	headers    map[string][]string
	bodyLength int64
	remoteAddr string
	servedBy   string
	fault      string
}

// appendEcho renders e after identityJSON (the precomputed, encoded
// identity) in the layout of Echo.
func appendEcho(b []byte, identityJSON []byte, e *echoFields) []byte {
	b = append(b, `{"identity":`...)
	b = append(b, identityJSON...)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(e.status), 10)
	b = append(b, `,"method":`...)
	b = appendJSONString(b, e.method)
	b = append(b, `,"host":`...)
	b = appendJSONString(b, e.host)
	b = append(b, `,"uri":`...)
	b = appendJSONString(b, e.uri)
	b = append(b, `,"headers":{`...)
	// Sorted names make the body stable for humans and diffs; a request has
	// few headers, so a small stack array avoids an allocation.
	var keysArr [32]string
	keys := keysArr[:0]
	for k := range e.headers {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ":["...)
		for j, v := range e.headers[k] {
			if j > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, v)
		}
		b = append(b, ']')
	}
	b = append(b, `},"bodyLength":`...)
	b = strconv.AppendInt(b, e.bodyLength, 10)
	b = append(b, `,"remoteAddr":`...)
	b = appendJSONString(b, e.remoteAddr)
	if e.servedBy != "" {
		b = append(b, `,"servedby":`...)
		b = appendJSONString(b, e.servedBy)
	}
	if e.fault != "" {
		b = append(b, `,"fault":`...)
		b = appendJSONString(b, e.fault)
	}
	b = append(b, "}\n"...)
	return b
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string, as encoding/json would
// without HTML escaping: control characters escaped, invalid UTF-8 replaced
// by U+FFFD, U+2028 and U+2029 escaped.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
