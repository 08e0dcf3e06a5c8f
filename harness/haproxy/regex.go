package haproxy

import (
	"fmt"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The model (harness/istio) matches Istio regexes with Go's regexp (RE2
// syntax, fully anchored, on UTF-8 text where an invalid byte reads as
// U+FFFD); HAProxy 2.6 matches with PCRE2 on bytes (no UTF mode). A regex
// is translated from its parsed syntax tree, node by node, into a PCRE2
// pattern that accepts exactly the same byte strings:
//
//   - literal bytes are written as \xHH (letters and digits as themselves);
//   - every "one character" unit consumes what Go's UTF-8 decoder would:
//     one ASCII byte, one valid multi-byte sequence, or one byte that does
//     not start a valid sequence (U+FFFD);
//   - case folding is spelled out (k matches k, K and U+212A KELVIN SIGN);
//   - ^ and $ become \A and \z (PCRE2's $ also matches before a final
//     newline), \b and \B explicit ASCII look-arounds, captures
//     non-capturing groups.
//
// Constructs with no faithful translation are refused with the reason:
// multi-line anchors, classes holding part of the non-ASCII runes (\pL),
// and nested unbounded repetition (PCRE2 backtracks: a match limit hit
// would read as "no match").
//
// Every pattern emitted uses only letters, digits and the characters of
// patternChars, so it is safe inside single quotes in haproxy.cfg: no
// value from the input can end the word, start a comment or a new line.

// patternChars are the non-alphanumeric characters an emitted pattern may
// contain.
const patternChars = `\()[]{}^?:|*+,!<=-`

// maxSmallSet bounds the non-ASCII runes a class may list one by one.
const maxSmallSet = 64

// validMB matches one valid UTF-8 multi-byte sequence (Go's utf8 rules: no
// overlong forms, no surrogates, nothing above U+10FFFF).
const validMB = `(?:[\xC2-\xDF][\x80-\xBF]` +
	`|\xE0[\xA0-\xBF][\x80-\xBF]` +
	`|[\xE1-\xEC\xEE\xEF][\x80-\xBF]{2}` +
	`|\xED[\x80-\x9F][\x80-\xBF]` +
	`|\xF0[\x90-\xBF][\x80-\xBF]{2}` +
	`|[\xF1-\xF3][\x80-\xBF]{3}` +
	`|\xF4[\x80-\x8F][\x80-\xBF]{2})`

// invalidByte matches one byte Go's decoder reads as U+FFFD (width 1).
const invalidByte = `(?!` + validMB + `)[\x80-\xFF]`

// wordClass is RE2's (ASCII) \w.
const wordClass = `[0-9A-Za-z_]`

// translateRegex translates an Istio (RE2) regex into a PCRE2 pattern that
// matches the same whole strings: the result is anchored (\A...\z).
// Characters in exclude (ASCII only) are taken out of every class and
// literal: the pattern then never matches a string holding one (used for a
// query parameter's value, which ends at "&").
func translateRegex(re string, exclude string) (string, error) {
	if _, err := regexp.Compile(`^(?:` + re + `)$`); err != nil {
		return "", fmt.Errorf("compile regex %q: %w", re, err)
	}
	tree, err := syntax.Parse(re, syntax.Perl)
	if err != nil {
		return "", fmt.Errorf("parse regex %q: %w", re, err)
	}
	t := translator{exclude: exclude}
	body, err := t.node(tree, false)
	if err != nil {
		return "", fmt.Errorf("translate regex %q for HAProxy (PCRE2): %w", re, err)
	}
	return `\A(?:` + body + `)\z`, nil
}

type translator struct {
	exclude string
}

func (t translator) node(re *syntax.Regexp, underStar bool) (string, error) {
	switch re.Op {
	case syntax.OpNoMatch:
		return `(?!)`, nil
	case syntax.OpEmptyMatch:
		return ``, nil
	case syntax.OpLiteral:
		var b strings.Builder
		for _, r := range re.Rune {
			if re.Flags&syntax.FoldCase != 0 {
				b.WriteString(t.foldRune(r))
			} else {
				b.WriteString(t.rune(r))
			}
		}
		return b.String(), nil
	case syntax.OpCharClass:
		return t.class(re.Rune)
	case syntax.OpAnyCharNotNL:
		return t.class([]rune{0, '\n' - 1, '\n' + 1, unicode.MaxRune})
	case syntax.OpAnyChar:
		return t.class([]rune{0, unicode.MaxRune})
	case syntax.OpBeginLine, syntax.OpEndLine:
		return "", fmt.Errorf("multi-line anchors ((?m)^ and (?m)$) are not translated")
	case syntax.OpBeginText:
		return `\A`, nil
	case syntax.OpEndText:
		return `\z`, nil
	case syntax.OpWordBoundary:
		return `(?:(?<=` + wordClass + `)(?!` + wordClass + `)|(?<!` + wordClass + `)(?=` + wordClass + `))`, nil
	case syntax.OpNoWordBoundary:
		return `(?:(?<=` + wordClass + `)(?=` + wordClass + `)|(?<!` + wordClass + `)(?!` + wordClass + `))`, nil
	case syntax.OpCapture:
		sub, err := t.node(re.Sub[0], underStar)
		if err != nil {
			return "", err
		}
		return `(?:` + sub + `)`, nil
	case syntax.OpStar, syntax.OpPlus, syntax.OpQuest, syntax.OpRepeat:
		unbounded := re.Op == syntax.OpStar || re.Op == syntax.OpPlus || (re.Op == syntax.OpRepeat && re.Max < 0)
		if unbounded && underStar {
			return "", fmt.Errorf("nested unbounded repetition is not translated (PCRE2 backtracks exponentially; a match limit hit would read as no match)")
		}
		q := ""
		switch re.Op {
		case syntax.OpStar:
			q = "*"
		case syntax.OpPlus:
			q = "+"
		case syntax.OpQuest:
			q = "?"
		default:
			switch {
			case re.Max < 0:
				q = "{" + strconv.Itoa(re.Min) + ",}"
			case re.Max == re.Min:
				q = "{" + strconv.Itoa(re.Min) + "}"
			default:
				q = "{" + strconv.Itoa(re.Min) + "," + strconv.Itoa(re.Max) + "}"
			}
		}
		if q == "*" || q == "+" {
			// A run of characters of a class holding every non-ASCII rune
			// is, byte for byte, a run of its ASCII bytes and of any byte
			// >= 0x80 (any byte string splits into Go's runes one way):
			// one byte class, which PCRE2 repeats without a stack frame per
			// character (a group would exhaust the JIT stack on a long value).
			if set, ok := t.byteClass(re.Sub[0]); ok {
				return set + q, nil
			}
		}
		sub, err := t.node(re.Sub[0], underStar || unbounded)
		if err != nil {
			return "", err
		}
		return `(?:` + sub + `)` + q, nil
	case syntax.OpConcat, syntax.OpAlternate:
		parts := make([]string, len(re.Sub))
		for i, s := range re.Sub {
			p, err := t.node(s, underStar)
			if err != nil {
				return "", err
			}
			parts[i] = `(?:` + p + `)`
		}
		if re.Op == syntax.OpConcat {
			return strings.Join(parts, ""), nil
		}
		return strings.Join(parts, "|"), nil
	}
	return "", fmt.Errorf("regex construct %v is not translated", re.Op)
}

// byteClass renders a one-character node whose class holds either no
// non-ASCII rune or all of them as a class of bytes; ok is false otherwise.
func (t translator) byteClass(re *syntax.Regexp) (string, bool) {
	var ranges []rune
	switch re.Op {
	case syntax.OpCharClass:
		ranges = re.Rune
	case syntax.OpAnyCharNotNL:
		ranges = []rune{0, '\n' - 1, '\n' + 1, unicode.MaxRune}
	case syntax.OpAnyChar:
		ranges = []rune{0, unicode.MaxRune}
	default:
		return "", false
	}
	var ascii []rune
	count := 0
	for i := 0; i+1 < len(ranges); i += 2 {
		lo, hi := ranges[i], ranges[i+1]
		if lo < utf8.RuneSelf {
			ascii = append(ascii, lo, min(hi, utf8.RuneSelf-1))
		}
		if hi >= utf8.RuneSelf {
			count += int(hi-max(lo, utf8.RuneSelf)) + 1
		}
	}
	set := strings.TrimSuffix(strings.TrimPrefix(t.asciiSet(ascii), "["), "]")
	switch count {
	case 0:
	case unicode.MaxRune - utf8.RuneSelf + 1:
		set += `\x80-\xFF`
	default:
		return "", false
	}
	if set == "" {
		return `(?:(?!))`, true
	}
	return "[" + set + "]", true
}

// excluded reports whether r is one of the excluded characters.
func (t translator) excluded(r rune) bool {
	return r < utf8.RuneSelf && strings.ContainsRune(t.exclude, r)
}

// rune matches exactly r's UTF-8 bytes (Go decodes them as r, nothing
// else does).
func (t translator) rune(r rune) string {
	if t.excluded(r) {
		return `(?!)`
	}
	if r == utf8.RuneError {
		// U+FFFD also stands for every invalid byte.
		return `(?:` + literalBytes(string(r)) + `|` + invalidByte + `)`
	}
	return literalBytes(string(r))
}

// foldRune matches r and every rune it folds to (Go's simple folding).
func (t translator) foldRune(r rune) string {
	orbit := []rune{r}
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		orbit = append(orbit, f)
	}
	if len(orbit) == 1 {
		return t.rune(r)
	}
	alts := make([]string, len(orbit))
	for i, o := range orbit {
		alts[i] = t.rune(o)
	}
	return `(?:` + strings.Join(alts, "|") + `)`
}

// class matches one rune of the class given as syntax ranges (lo, hi
// pairs).
func (t translator) class(ranges []rune) (string, error) {
	var ascii []rune // ranges within 0..0x7F
	var nonASCII []rune
	var count int
	for i := 0; i+1 < len(ranges); i += 2 {
		lo, hi := ranges[i], ranges[i+1]
		if lo < utf8.RuneSelf {
			ascii = append(ascii, lo, min(hi, utf8.RuneSelf-1))
		}
		if hi >= utf8.RuneSelf {
			lo = max(lo, utf8.RuneSelf)
			nonASCII = append(nonASCII, lo, hi)
			count += int(hi-lo) + 1
		}
	}
	var alts []string
	if set := t.asciiSet(ascii); set != "" {
		alts = append(alts, set)
	}
	switch {
	case count == 0:
	case count == unicode.MaxRune-utf8.RuneSelf+1:
		// Every non-ASCII rune, U+FFFD (so every invalid byte) included.
		alts = append(alts, validMB, invalidByte)
	case count <= maxSmallSet:
		for i := 0; i+1 < len(nonASCII); i += 2 {
			for r := nonASCII[i]; r <= nonASCII[i+1]; r++ {
				alts = append(alts, t.rune(r))
			}
		}
	default:
		return "", fmt.Errorf("a class holding %d of the non-ASCII runes (such as \\pL) is not translated: list them, or allow them all", count)
	}
	if len(alts) == 0 {
		return `(?!)`, nil
	}
	return `(?:` + strings.Join(alts, "|") + `)`, nil
}

// asciiSet renders ASCII ranges as a PCRE class, minus the excluded
// characters, every member as \xHH; "" when empty.
func (t translator) asciiSet(ranges []rune) string {
	var in [utf8.RuneSelf]bool
	for i := 0; i+1 < len(ranges); i += 2 {
		for r := ranges[i]; r <= ranges[i+1]; r++ {
			in[r] = !t.excluded(r)
		}
	}
	var b strings.Builder
	for r := 0; r < utf8.RuneSelf; {
		if !in[r] {
			r++
			continue
		}
		end := r
		for end+1 < utf8.RuneSelf && in[end+1] {
			end++
		}
		b.WriteString(hexByte(byte(r)))
		if end > r {
			b.WriteString("-" + hexByte(byte(end)))
		}
		r = end + 1
	}
	if b.Len() == 0 {
		return ""
	}
	return "[" + b.String() + "]"
}

// literalBytes matches s byte for byte: letters and digits as themselves,
// every other byte as \xHH.
func literalBytes(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isAlnum(c) {
			b.WriteByte(c)
		} else {
			b.WriteString(hexByte(c))
		}
	}
	return b.String()
}

func hexByte(c byte) string { return fmt.Sprintf(`\x%02X`, c) }

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// foldASCII matches s with ASCII letters in either case and every other
// byte as itself: strings.EqualFold on a prefix of len(s) bytes, for an
// ASCII s (a non-ASCII rune in the subject changes the rune count, so it
// never matches there).
func foldASCII(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z':
			b.WriteString("[" + string(c-'a'+'A') + string(c) + "]")
		case c >= 'A' && c <= 'Z':
			b.WriteString("[" + string(c) + string(c-'A'+'a') + "]")
		default:
			b.WriteString(literalBytes(string(c)))
		}
	}
	return b.String()
}

// foldUnicode matches every string strings.EqualFold finds equal to s,
// rune by rune (s holds no U+FFFD, which EqualFold matches to any invalid
// byte).
func foldUnicode(s string) string {
	t := translator{}
	var b strings.Builder
	for _, r := range s {
		b.WriteString(t.foldRune(r))
	}
	return b.String()
}

// safePattern reports whether an emitted pattern holds only characters
// safe in a single-quoted haproxy.cfg word.
func safePattern(p string) bool {
	for i := 0; i < len(p); i++ {
		if !isAlnum(p[i]) && !strings.ContainsRune(patternChars, rune(p[i])) {
			return false
		}
	}
	return true
}
