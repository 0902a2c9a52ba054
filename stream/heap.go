package stream

import "container/heap"

// winHeap orders windows by end, then start: the order in which the watermark reaches
// them.
type winHeap []Window

func (h winHeap) Len() int { return len(h) }
func (h winHeap) Less(i, j int) bool {
	if h[i].End != h[j].End {
		return h[i].End < h[j].End
	}
	return h[i].Start < h[j].Start
}
func (h winHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *winHeap) Push(x any)   { *h = append(*h, x.(Window)) }
func (h *winHeap) Pop() any {
	old := *h
	w := old[len(old)-1]
	*h = old[:len(old)-1]
	return w
}

func (h *winHeap) push(w Window) { heap.Push(h, w) }
func (h *winHeap) pop() Window   { return heap.Pop(h).(Window) }
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

func (h timerHeap[K]) Len() int { return len(h) }
func (h timerHeap[K]) Less(i, j int) bool {
	if h[i].t != h[j].t {
		return h[i].t < h[j].t
	}
	return h[i].seq < h[j].seq
}
func (h timerHeap[K]) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *timerHeap[K]) Push(x any)   { *h = append(*h, x.(timer[K])) }
func (h *timerHeap[K]) Pop() any {
	old := *h
	t := old[len(old)-1]
	*h = old[:len(old)-1]
	return t
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
