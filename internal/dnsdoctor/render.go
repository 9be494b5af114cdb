package dnsdoctor

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// WriteText renders a Report for a terminal: one line per finding with
// its verdict, indented lines saying what is wrong and which record fixes
// it, a summary, and at the end every record to add as one zone-file
// snippet ready to paste.
//
//	OK         www.example.com  _acme-challenge.www.example.com. -> _acme-challenge.www.example-acme.com.
//	MISSING    api.example.com  there is no CNAME at _acme-challenge.api.example.com.
//	           add:    _acme-challenge.api.example.com. 300 IN CNAME _acme-challenge.api.example-acme.com.
func WriteText(w io.Writer, r Report) error {
	bw := bufio.NewWriter(w)
	width := 0
	for _, f := range r.Findings {
		width = max(width, len(f.Name))
	}
	counts := map[Status]int{}
	var order []Status
	var adds []string
	for _, f := range r.Findings {
		if counts[f.Status] == 0 {
			order = append(order, f.Status)
		}
		counts[f.Status]++
		label := strings.ToUpper(string(f.Status))
		switch f.Check {
		case CheckWrite:
			label = writeLabel(f.Status)
		case CheckAnswer:
			label = "WARNING"
		}
		fmt.Fprintf(bw, "%-20s %-*s  %s\n", label, width, f.Name, headline(f))
		switch {
		case f.Problem == "":
		case f.Status == StatusCNAMENotFollowed:
			detail(bw, "warning:", f.Problem)
		case !f.OK():
			detail(bw, "problem:", f.Problem)
		default:
			detail(bw, "note:", f.Problem)
		}
		if f.Remove != "" {
			detail(bw, "remove:", f.Remove)
		}
		if f.Fix != "" {
			verb := "add:"
			if f.Check == CheckWrite || f.Check == CheckAnswer || f.Status == StatusLookupFailed {
				verb = "fix:"
			} else {
				adds = append(adds, f.Fix)
			}
			detail(bw, verb, f.Fix)
		}
	}
	var parts []string
	for _, s := range order {
		parts = append(parts, fmt.Sprintf("%d %s", counts[s], s))
	}
	fmt.Fprintf(bw, "\n%d checks: %s\n", len(r.Findings), strings.Join(parts, ", "))
	if len(adds) > 0 {
		fmt.Fprintln(bw, "\n; records to add to the managed zones (after removing what is listed under remove:)")
		for _, a := range adds {
			fmt.Fprintln(bw, a)
		}
	}
	return bw.Flush()
}

// writeLabel names the verdict of a write check.
func writeLabel(s Status) string {
	switch s {
	case StatusOK:
		return "WRITE OK"
	case StatusWriteFailed:
		return "WRITE FAILED"
	case StatusCleanupFailed:
		return "CLEANUP FAILED"
	}
	return "WRITE " + strings.ToUpper(string(s))
}

// headline is the one-line summary of a finding after its name.
func headline(f Finding) string {
	switch {
	case f.Check == CheckWrite && f.Status == StatusOK:
		return "wrote, saw and deleted a TXT record at " + f.Record
	case f.Check == CheckWrite:
		return "test record " + f.Record
	case f.Check == CheckAnswer:
		return "answers TXT " + f.Record + " with the CNAME alone"
	case len(f.Chain) > 0:
		return f.Record + " -> " + strings.Join(f.Chain, " -> ")
	case f.Record != "":
		return f.Record
	}
	return ""
}

// detail prints an indented, labelled line; continuation lines of a
// multi-line text line up under the first.
func detail(w io.Writer, label, text string) {
	for i, line := range strings.Split(text, "\n") {
		if i > 0 {
			label = ""
		}
		fmt.Fprintf(w, "    %-8s %s\n", label, line)
	}
}

// WriteApplyText renders the results of Apply, one line per record; a dry
// run prints the records it would create as zone-file lines.
func WriteApplyText(w io.Writer, results []ApplyResult) error {
	bw := bufio.NewWriter(w)
	counts := map[Action]int{}
	var order []Action
	for _, r := range results {
		if counts[r.Action] == 0 {
			order = append(order, r.Action)
		}
		counts[r.Action]++
		fmt.Fprintf(bw, "%-13s %s\n", strings.ToUpper(string(r.Action)), r.Record.ZoneLine())
		if r.Problem != "" {
			detail(bw, "problem:", r.Problem)
		}
	}
	var parts []string
	for _, a := range order {
		parts = append(parts, fmt.Sprintf("%d %s", counts[a], a))
	}
	if len(parts) == 0 {
		parts = []string{"nothing to do"}
	}
	fmt.Fprintf(bw, "\n%d records: %s\n", len(results), strings.Join(parts, ", "))
	return bw.Flush()
}
