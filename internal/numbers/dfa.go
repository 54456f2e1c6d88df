package numbers

import (
	"errors"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
)

// A digitDFA is a libphonenumber pattern compiled, through the same regexp/syntax program Go's
// regexp package runs, into a deterministic automaton over the ten ASCII digits. On a string
// of ASCII digits it answers exactly what regexp would for "^(?:pattern)$" (fullMatch) and
// "^(?:pattern)" (prefixMatch), in one table lookup per digit and without allocating.
// It must only be given ASCII digits.
type digitDFA struct {
	next   [][10]int32 // state × digit → state; -1 is the dead state
	accept []bool      // the state has consumed a string of the pattern's language
}

// maxDFAStates bounds the subset construction; a pattern that needs more is left to regexp.
const maxDFAStates = 1 << 14

var errNoDFA = errors.New("pattern not compilable to a digit DFA")

// compileDigitDFA builds the automaton of pattern, or fails (then the caller uses regexp).
func compileDigitDFA(pattern string) (*digitDFA, error) {
	re, err := syntax.Parse(pattern, syntax.Perl) // the flags regexp.Compile uses
	if err != nil {
		return nil, err
	}
	prog, err := syntax.Compile(re.Simplify())
	if err != nil {
		return nil, err
	}
	b := dfaBuilder{prog: prog, index: map[string]int32{}, d: &digitDFA{}}
	start, err := b.closure(nil, []uint32{uint32(prog.Start)})
	if err != nil {
		return nil, err
	}
	if _, err := b.state(start); err != nil {
		return nil, err
	}
	for s := 0; s < len(b.sets); s++ {
		for digit := range 10 {
			var targets []uint32
			for _, pc := range b.sets[s] {
				inst := &prog.Inst[pc]
				switch inst.Op {
				case syntax.InstRune, syntax.InstRune1:
					if inst.MatchRune('0' + rune(digit)) {
						targets = append(targets, inst.Out)
					}
				case syntax.InstRuneAny, syntax.InstRuneAnyNotNL:
					targets = append(targets, inst.Out)
				}
			}
			next := int32(-1)
			if len(targets) > 0 {
				set, err := b.closure(nil, targets)
				if err != nil {
					return nil, err
				}
				if len(set) > 0 {
					if next, err = b.state(set); err != nil {
						return nil, err
					}
				}
			}
			b.d.next[s][digit] = next
		}
	}
	return b.d, nil
}

type dfaBuilder struct {
	prog  *syntax.Prog
	index map[string]int32
	sets  [][]uint32
	d     *digitDFA
}

// closure adds to set the instructions that consume input or match, reachable from pcs
// without consuming input; the result is sorted and free of duplicates.
func (b *dfaBuilder) closure(set []uint32, pcs []uint32) ([]uint32, error) {
	seen := map[uint32]bool{}
	stack := slices.Clone(pcs)
	for len(stack) > 0 {
		pc := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[pc] {
			continue
		}
		seen[pc] = true
		inst := &b.prog.Inst[pc]
		switch inst.Op {
		case syntax.InstAlt, syntax.InstAltMatch:
			stack = append(stack, inst.Out, inst.Arg)
		case syntax.InstCapture, syntax.InstNop:
			stack = append(stack, inst.Out)
		case syntax.InstFail:
		case syntax.InstRune, syntax.InstRune1, syntax.InstRuneAny, syntax.InstRuneAnyNotNL, syntax.InstMatch:
			set = append(set, pc)
		default: // InstEmptyWidth (anchors, word boundaries): not needed by the metadata
			return nil, errNoDFA
		}
	}
	slices.Sort(set)
	return slices.Compact(set), nil
}

// state numbers a set of instructions, adding a state for a new set.
func (b *dfaBuilder) state(set []uint32) (int32, error) {
	var key strings.Builder
	for _, pc := range set {
		key.WriteString(strconv.FormatUint(uint64(pc), 36))
		key.WriteByte(',')
	}
	if s, ok := b.index[key.String()]; ok {
		return s, nil
	}
	if len(b.sets) >= maxDFAStates {
		return 0, errNoDFA
	}
	s := int32(len(b.sets))
	b.index[key.String()] = s
	b.sets = append(b.sets, set)
	accept := false
	for _, pc := range set {
		if b.prog.Inst[pc].Op == syntax.InstMatch {
			accept = true
		}
	}
	b.d.next = append(b.d.next, [10]int32{})
	b.d.accept = append(b.d.accept, accept)
	return s, nil
}

// fullMatch reports whether the whole of digits is in the pattern's language.
func (d *digitDFA) fullMatch(digits string) bool {
	s := int32(0)
	for i := 0; i < len(digits); i++ {
		if s = d.next[s][digits[i]-'0']; s < 0 {
			return false
		}
	}
	return d.accept[s]
}

// prefixMatch reports whether some prefix of digits (maybe empty) is in the pattern's language.
func (d *digitDFA) prefixMatch(digits string) bool {
	s := int32(0)
	for i := 0; i < len(digits); i++ {
		if d.accept[s] {
			return true
		}
		if s = d.next[s][digits[i]-'0']; s < 0 {
			return false
		}
	}
	return d.accept[s]
}
