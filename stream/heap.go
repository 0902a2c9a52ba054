package stream

import "slices"

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
	h     []Time // min-heap of distinct times (stale entries are skipped lazily)
}

func (s *holdSet) add(t Time) {
	if s.count == nil {
		s.count = map[Time]int{}
	}
	if s.count[t] == 0 {
		if len(s.h) > 2*len(s.count)+64 {
			// Too many stale entries: rebuild from the live times.
			s.h = s.h[:0]
			for x := range s.count {
				s.h = append(s.h, x)
			}
			slices.Sort(s.h) // a sorted slice is a valid min-heap
		}
		s.h = append(s.h, t)
		for i := len(s.h) - 1; i > 0; {
			p := (i - 1) / 2
			if s.h[p] <= s.h[i] {
				break
			}
			s.h[p], s.h[i] = s.h[i], s.h[p]
			i = p
		}
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
		n := len(s.h) - 1
		s.h[0] = s.h[n]
		s.h = s.h[:n]
		for i := 0; ; {
			l := 2*i + 1
			if l >= n {
				break
			}
			m := l
			if r := l + 1; r < n && s.h[r] < s.h[l] {
				m = r
			}
			if s.h[i] <= s.h[m] {
				break
			}
			s.h[i], s.h[m] = s.h[m], s.h[i]
			i = m
		}
	}
	return MaxTime
}
