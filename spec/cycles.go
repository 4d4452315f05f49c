package spec

import (
	"slices"
	"sort"
	"strings"
)

// Cycles finds the dependency cycles among programs: needs maps a program to
// the programs it depends on (names missing from needs depend on nothing).
// It returns, for every program on a cycle, that cycle spelled out from the
// program itself: "web -> worker -> web". It finds the strongly connected
// components (Tarjan's algorithm) and, in each, the shortest way back from
// each member to itself.
func Cycles(needs map[string][]string) map[string]string {
	t := tarjan{needs: needs, index: map[string]int{}, low: map[string]int{}, onStack: map[string]bool{}}
	names := make([]string, 0, len(needs))
	for n := range needs {
		names = append(names, n)
	}
	sort.Strings(names) // the same input always gives the same cycles
	for _, n := range names {
		if _, seen := t.index[n]; !seen {
			t.visit(n)
		}
	}
	out := map[string]string{}
	for _, comp := range t.comps {
		in := map[string]bool{}
		for _, n := range comp {
			in[n] = true
		}
		if len(comp) == 1 && !slices.Contains(needs[comp[0]], comp[0]) {
			continue
		}
		for _, n := range comp {
			out[n] = strings.Join(shortestCycle(needs, in, n), " -> ")
		}
	}
	return out
}

type tarjan struct {
	needs   map[string][]string
	counter int
	index   map[string]int
	low     map[string]int
	stack   []string
	onStack map[string]bool
	comps   [][]string
}

// visit is Tarjan's strongconnect. Recursion depth is bounded by the number
// of programs in one chain, which is small.
func (t *tarjan) visit(v string) {
	t.index[v], t.low[v] = t.counter, t.counter
	t.counter++
	t.stack = append(t.stack, v)
	t.onStack[v] = true
	for _, w := range t.needs[v] {
		if _, seen := t.index[w]; !seen {
			t.visit(w)
			t.low[v] = min(t.low[v], t.low[w])
		} else if t.onStack[w] {
			t.low[v] = min(t.low[v], t.index[w])
		}
	}
	if t.low[v] != t.index[v] {
		return
	}
	var comp []string
	for {
		w := t.stack[len(t.stack)-1]
		t.stack = t.stack[:len(t.stack)-1]
		t.onStack[w] = false
		comp = append(comp, w)
		if w == v {
			break
		}
	}
	t.comps = append(t.comps, comp)
}

// shortestCycle walks breadth first from start, inside the component in,
// back to start, and returns the path: [start, ..., start].
func shortestCycle(needs map[string][]string, in map[string]bool, start string) []string {
	prev := map[string]string{}
	queue := []string{start}
	for len(queue) > 0 {
		v := queue[0]
		queue = queue[1:]
		for _, w := range needs[v] {
			if !in[w] {
				continue
			}
			if w == start {
				path := []string{start}
				for u := v; u != start; u = prev[u] {
					path = append(path, u)
				}
				path = append(path, start)
				// path is start, v, ..., start reversed in the middle.
				for i, j := 1, len(path)-2; i < j; i, j = i+1, j-1 {
					path[i], path[j] = path[j], path[i]
				}
				return path
			}
			if _, seen := prev[w]; !seen {
				prev[w] = v
				queue = append(queue, w)
			}
		}
	}
	return []string{start, start}
}
