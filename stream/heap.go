package stream

import "container/heap"

// winHeap orders windows by end, then start: the order in which the watermark reaches
// them. Hand-written (no container/heap) so pushes do not box windows.
type winHeap []Window

func winLess(a, b Window) bool {
	if a.End != b.End {
		return a.End < b.End
	}
	return a.Start < b.Start
}

func (h *winHeap) push(w Window) {
	*h = append(*h, w)
	s := *h
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !winLess(s[i], s[p]) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

func (h *winHeap) pop() Window {
	s := *h
	top := s[0]
	n := len(s) - 1
	s[0] = s[n]
	s = s[:n]
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && winLess(s[r], s[l]) {
			m = r
		}
		if !winLess(s[m], s[i]) {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	*h = s
	return top
}

func (h winHeap) min() (Window, bool) {
	if len(h) == 0 {
		return Window{}, false
	}
	return h[0], true
}

// timerHeap orders timers by time, then by insertion sequence (so equal times fire in the
// order they were set: deterministic).
type timer[K any] struct {
	t   Time
	seq uint64
	key K
	win Window
	tag string
}

type timerHeap[K any] []timer[K]

func timerLess[K any](a, b *timer[K]) bool {
	if a.t != b.t {
		return a.t < b.t
	}
	return a.seq < b.seq
}

func (h timerHeap[K]) Len() int { return len(h) }

func (h *timerHeap[K]) push(t timer[K]) {
	*h = append(*h, t)
	s := *h
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !timerLess(&s[i], &s[p]) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

func (h *timerHeap[K]) pop() timer[K] {
	s := *h
	top := s[0]
	n := len(s) - 1
	s[0] = s[n]
	s[n] = timer[K]{}
	s = s[:n]
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && timerLess(&s[r], &s[l]) {
			m = r
		}
		if !timerLess(&s[m], &s[i]) {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	*h = s
	return top
}

// holdSet is a multiset of watermark holds: the output watermark of an operator may not
// pass its smallest member.
type holdSet struct {
	count map[Time]int
	h     timeHeap
}

type timeHeap []Time

func (h timeHeap) Len() int           { return len(h) }
func (h timeHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h timeHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *timeHeap) Push(x any)        { *h = append(*h, x.(Time)) }
func (h *timeHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	*h = old[:len(old)-1]
	return t
}

func (s *holdSet) add(t Time) {
	if s.count == nil {
		s.count = map[Time]int{}
	}
	if s.count[t] == 0 {
		heap.Push(&s.h, t)
	}
	s.count[t]++
}

func (s *holdSet) remove(t Time) {
	if s.count[t] <= 1 {
		delete(s.count, t)
	} else {
		s.count[t]--
	}
}

// min returns the smallest hold, or MaxTime.
func (s *holdSet) min() Time {
	for len(s.h) > 0 {
		if s.count[s.h[0]] > 0 {
			return s.h[0]
		}
		heap.Pop(&s.h)
	}
	return MaxTime
}
