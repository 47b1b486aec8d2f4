package plan

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Position is a place in a plan file. Line and Col are 1-based; Col counts
// characters (not bytes), as editors do. A Position with Line 0 is unknown.
type Position struct {
	File string
	Line int
	Col  int
}

// IsValid reports whether the position has a line.
func (p Position) IsValid() bool { return p.Line > 0 }

// String returns "file:line:col", "file:line" without a column, "file"
// without a line, or "-" when nothing is known.
func (p Position) String() string {
	s := p.File
	if p.IsValid() {
		if s != "" {
			s += ":"
		}
		s += fmt.Sprint(p.Line)
		if p.Col > 0 {
			s += fmt.Sprintf(":%d", p.Col)
		}
	}
	if s == "" {
		s = "-"
	}
	return s
}

// Error is one problem in a plan file, at a position. Msg says what is wrong
// and what to do about it.
type Error struct {
	Pos Position
	Msg string
}

// Error returns "file:line:col: msg".
func (e *Error) Error() string { return e.Pos.String() + ": " + e.Msg }

// ErrorList is every problem found in a plan, modelled on
// go/scanner.ErrorList. The zero value is an empty list ready to use.
type ErrorList []*Error

// Add appends an error at pos.
func (l *ErrorList) Add(pos Position, msg string) { *l = append(*l, &Error{pos, msg}) }

// Len, Swap and Less implement sort.Interface.
func (l ErrorList) Len() int { return len(l) }

// Swap implements sort.Interface.
func (l ErrorList) Swap(i, j int) { l[i], l[j] = l[j], l[i] }

// Less orders by file, line, column, then message.
func (l ErrorList) Less(i, j int) bool { return compareErrors(l[i], l[j]) < 0 }

func compareErrors(a, b *Error) int {
	return cmp.Or(cmp.Compare(a.Pos.File, b.Pos.File), cmp.Compare(a.Pos.Line, b.Pos.Line),
		cmp.Compare(a.Pos.Col, b.Pos.Col), cmp.Compare(a.Msg, b.Msg))
}

// Sort sorts the list by position, then message.
func (l ErrorList) Sort() { slices.SortStableFunc(l, compareErrors) }

// RemoveMultiples sorts the list and removes exact duplicates (same position
// and message), which arise when a template in defaults fails the same way
// for several groups.
func (l *ErrorList) RemoveMultiples() {
	l.Sort()
	*l = slices.CompactFunc(*l, func(a, b *Error) bool { return compareErrors(a, b) == 0 })
}

// Error returns every error, one per line.
func (l ErrorList) Error() string {
	switch len(l) {
	case 0:
		return "no errors"
	case 1:
		return l[0].Error()
	}
	var b strings.Builder
	for i, e := range l {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Err returns nil for an empty list and the list itself otherwise, so that a
// caller can return l.Err() as an error.
func (l ErrorList) Err() error {
	if len(l) == 0 {
		return nil
	}
	return l
}
