package contract

import (
	"strconv"
	"strings"
)

// Lint reports things in a valid contract that are allowed but probably
// wrong: labels that disagree with the case's entry or headers, entries no
// case uses, plain backends nothing refers to, one-member groups, budgets
// that load a case expecting no backend. The default contract lints clean.
func Lint(c *Contract) []Problem {
	var ps []Problem
	add := func(pos Position, msg string) { ps = append(ps, Problem{Pos: pos, Msg: msg}) }

	usedEntry := map[string]bool{}
	usedBackend := map[string]bool{}
	for _, b := range c.Backends {
		for _, m := range b.Members {
			usedBackend[m] = true
		}
	}
	for _, cs := range c.Cases {
		usedEntry[cs.Entry] = true
		usedBackend[cs.Expect.ServedBy] = true
		if cs.ExpectOff != nil {
			usedBackend[cs.ExpectOff.ServedBy] = true
		}
		if len(cs.Labels) == 0 {
			add(cs.Pos, "case "+quote(cs.Name)+" has no labels")
		}
		for _, want := range impliedLabels(cs) {
			if !contains(cs.Labels, want) {
				add(cs.Pos, "case "+quote(cs.Name)+" should carry label "+quote(want))
			}
		}
		if contains(cs.Labels, LabelEdge) && cs.Entry != EntryEdge {
			add(cs.Pos, "case "+quote(cs.Name)+" is labelled "+quote(LabelEdge)+" but enters at "+quote(cs.Entry))
		}
		if contains(cs.Labels, LabelMesh) && !strings.HasPrefix(cs.Entry, "mesh/") {
			add(cs.Pos, "case "+quote(cs.Name)+" is labelled "+quote(LabelMesh)+" but enters at "+quote(cs.Entry))
		}
		if contains(cs.Labels, LabelXWD) && xwdHeader(cs) == "" {
			add(cs.Pos, "case "+quote(cs.Name)+" is labelled "+quote(LabelXWD)+" but sends no X-Wikimedia-Debug header")
		}
	}
	for _, name := range sortedKeys(c.Entries) {
		if !usedEntry[name] {
			add(c.Entries[name].Pos, "entry "+quote(name)+" is used by no case")
		}
	}
	for _, name := range sortedKeys(c.Backends) {
		b := c.Backends[name]
		if !b.IsGroup() && !usedBackend[name] {
			add(b.Pos, "backend "+quote(name)+" is expected by no case and belongs to no group")
		}
		if len(b.Members) == 1 {
			add(b.Pos, "group "+quote(name)+" has a single member")
		}
	}
	for _, b := range c.Budgets {
		if cs, err := c.BudgetCase(b); err == nil && cs.Expect.NoBackend {
			add(b.Pos, "budget "+quote(b.Name)+" loads case "+quote(cs.Name)+", which expects no backend")
		}
	}
	sortProblems(ps)
	return ps
}

// impliedLabels are the labels a case's entry and headers call for.
func impliedLabels(cs *Case) []string {
	var out []string
	switch {
	case cs.Entry == EntryEdge:
		out = append(out, LabelEdge)
	case cs.Entry == EntryRESTGateway:
		out = append(out, LabelREST)
	case cs.Entry == EntryJobrunner, cs.Entry == EntryJobrunnerGateway, cs.Entry == EntryMeshJobrunner:
		out = append(out, LabelJobrunner)
	}
	if strings.HasPrefix(cs.Entry, "mesh/") {
		out = append(out, LabelMesh)
	}
	if xwdHeader(cs) != "" {
		out = append(out, LabelXWD)
	}
	if strings.HasPrefix(cs.Request.Path, "/w/rest.php") {
		out = append(out, LabelREST)
	}
	return out
}

// xwdHeader is the X-Wikimedia-Debug value a case sends, or "".
func xwdHeader(cs *Case) string {
	for _, h := range cs.Request.Headers {
		if strings.EqualFold(h.Name, "X-Wikimedia-Debug") {
			return h.Value
		}
	}
	return ""
}

func quote(s string) string { return strconv.Quote(s) }
