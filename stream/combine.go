package stream

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
)

// Combiner is an associative, commutative aggregation (Beam's CombineFn): values of In are
// added to an accumulator A, accumulators merge, and Extract turns one into the output O.
// Accumulators are values: Add and Merge return the new accumulator, so numeric
// accumulators never allocate.
//
// Ownership: Add and Merge may modify and return their first argument. Merge must not modify
// its second argument, nor return it or anything sharing its mutable memory (a slice's
// backing array): the library keeps that accumulator (a slice of a sliding window, a pane)
// and adds to it later. Extract must not modify acc (it is called again for later panes in
// accumulating modes), and its result must not share acc's mutable memory.
type Combiner[In, A, O any] interface {
	Create() A
	Add(acc A, v In) A
	Merge(a, b A) A
	Extract(acc A) O
}

// Subtractor is implemented by combiners that can remove a value from an accumulator. A
// grouping needs it to consume retractions (for example the output of an upstream
// accumulating-and-retracting aggregation or a table changelog); a retraction reaching a
// combiner without it is a failure.
type Subtractor[In, A any] interface {
	Subtract(acc A, v In) A
}

// AccumulatorCoderProvider is implemented by combiners that know how to encode their
// accumulator (for state). Otherwise CoderFor[A] is used.
type AccumulatorCoderProvider[A any] interface {
	AccumulatorCoder() Coder[A]
}

// ErrNoSubtract is the failure of a retraction reaching a combiner without Subtract.
var ErrNoSubtract = errors.New("stream: combiner cannot subtract a retraction")

// CombineFns builds a Combiner from functions. Create, Add, Merge and Extract are required;
// Subtract is optional (it enables retractions).
type CombineFns[In, A, O any] struct {
	CreateFn   func() A
	AddFn      func(A, In) A
	MergeFn    func(A, A) A
	ExtractFn  func(A) O
	SubtractFn func(A, In) A
	// Coder encodes the accumulator; nil means CoderFor[A].
	Coder Coder[A]
}

func (c CombineFns[In, A, O]) Create() A       { return c.CreateFn() }
func (c CombineFns[In, A, O]) Add(a A, v In) A { return c.AddFn(a, v) }
func (c CombineFns[In, A, O]) Merge(a, b A) A  { return c.MergeFn(a, b) }
func (c CombineFns[In, A, O]) Extract(a A) O   { return c.ExtractFn(a) }
func (c CombineFns[In, A, O]) Subtract(a A, v In) A {
	return c.SubtractFn(a, v)
}
func (c CombineFns[In, A, O]) AccumulatorCoder() Coder[A] {
	if c.Coder == nil {
		return CoderFor[A]()
	}
	return c.Coder
}

func (c CombineFns[In, A, O]) canSubtract() bool { return c.SubtractFn != nil }

// subtractable lets adapters such as CombineFns say whether Subtract really works.
type subtractable interface{ canSubtract() bool }

func subtractorOf[In, A, O any](c Combiner[In, A, O]) Subtractor[In, A] {
	s, ok := c.(Subtractor[In, A])
	if !ok {
		return nil
	}
	if sc, ok := c.(subtractable); ok && !sc.canSubtract() {
		return nil
	}
	return s
}

// Number is the constraint of the numeric built-in combiners.
type Number interface {
	~int | ~int8 | ~int16 | ~int32 | ~int64 | ~uint | ~uint8 | ~uint16 | ~uint32 | ~uint64 | ~float32 | ~float64
}

// CountFn counts elements. Retractions subtract one.
type CountFn[T any] struct{}

// Count returns a combiner that counts elements.
func Count[T any]() CountFn[T] { return CountFn[T]{} }

func (CountFn[T]) Create() int64                  { return 0 }
func (CountFn[T]) Add(a int64, _ T) int64         { return a + 1 }
func (CountFn[T]) Merge(a, b int64) int64         { return a + b }
func (CountFn[T]) Extract(a int64) int64          { return a }
func (CountFn[T]) Subtract(a int64, _ T) int64    { return a - 1 }
func (CountFn[T]) AccumulatorCoder() Coder[int64] { return Int64Coder{} }

// SumFn sums numbers. Retractions subtract.
type SumFn[N Number] struct{}

// Sum returns a combiner that sums numbers.
func Sum[N Number]() SumFn[N] { return SumFn[N]{} }

func (SumFn[N]) Create() N                  { return 0 }
func (SumFn[N]) Add(a N, v N) N             { return a + v }
func (SumFn[N]) Merge(a, b N) N             { return a + b }
func (SumFn[N]) Extract(a N) N              { return a }
func (SumFn[N]) Subtract(a N, v N) N        { return a - v }
func (SumFn[N]) AccumulatorCoder() Coder[N] { return numberCoder[N]{} }

// numberCoder encodes any Number as 8 bytes (int64 or float64 bits).
type numberCoder[N Number] struct{}

func isFloat[N Number]() bool {
	var z N
	z = 1
	z /= 2
	return z != 0
}

func (numberCoder[N]) Encode(v N) ([]byte, error) {
	var u uint64
	if isFloat[N]() {
		u = math.Float64bits(float64(v))
	} else {
		u = uint64(int64(v))
	}
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), u), nil
}

func (numberCoder[N]) Decode(b []byte) (N, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("%w: number needs 8 bytes, got %d", ErrDecode, len(b))
	}
	u := binary.BigEndian.Uint64(b)
	if isFloat[N]() {
		return N(math.Float64frombits(u)), nil
	}
	return N(int64(u)), nil
}

// Opt is an optional value: the accumulator of Min and Max, and the output of combiners that
// have nothing to say about an empty input.
type Opt[T any] struct {
	Value T
	Valid bool
}

// MinFn keeps the smallest value. It cannot subtract.
type MinFn[T cmp.Ordered] struct{}

// Min returns a combiner that keeps the smallest value (Valid false for an empty pane).
func Min[T cmp.Ordered]() MinFn[T] { return MinFn[T]{} }

func (MinFn[T]) Create() Opt[T] { return Opt[T]{} }
func (MinFn[T]) Add(a Opt[T], v T) Opt[T] {
	if !a.Valid || v < a.Value {
		return Opt[T]{v, true}
	}
	return a
}
func (f MinFn[T]) Merge(a, b Opt[T]) Opt[T] {
	if !b.Valid {
		return a
	}
	return f.Add(a, b.Value)
}
func (MinFn[T]) Extract(a Opt[T]) Opt[T] { return a }

// MaxFn keeps the largest value. It cannot subtract.
type MaxFn[T cmp.Ordered] struct{}

// Max returns a combiner that keeps the largest value (Valid false for an empty pane).
func Max[T cmp.Ordered]() MaxFn[T] { return MaxFn[T]{} }

func (MaxFn[T]) Create() Opt[T] { return Opt[T]{} }
func (MaxFn[T]) Add(a Opt[T], v T) Opt[T] {
	if !a.Valid || v > a.Value {
		return Opt[T]{v, true}
	}
	return a
}
func (f MaxFn[T]) Merge(a, b Opt[T]) Opt[T] {
	if !b.Valid {
		return a
	}
	return f.Add(a, b.Value)
}
func (MaxFn[T]) Extract(a Opt[T]) Opt[T] { return a }

// MeanAcc is the accumulator of Mean.
type MeanAcc struct {
	Sum   float64
	Count int64
}

// MeanFn averages numbers (0 for an empty pane). Retractions subtract.
type MeanFn[N Number] struct{}

// Mean returns a combiner that averages numbers.
func Mean[N Number]() MeanFn[N] { return MeanFn[N]{} }

func (MeanFn[N]) Create() MeanAcc { return MeanAcc{} }
func (MeanFn[N]) Add(a MeanAcc, v N) MeanAcc {
	return MeanAcc{a.Sum + float64(v), a.Count + 1}
}
func (MeanFn[N]) Merge(a, b MeanAcc) MeanAcc { return MeanAcc{a.Sum + b.Sum, a.Count + b.Count} }
func (MeanFn[N]) Extract(a MeanAcc) float64 {
	if a.Count == 0 {
		return 0
	}
	return a.Sum / float64(a.Count)
}
func (MeanFn[N]) Subtract(a MeanAcc, v N) MeanAcc {
	return MeanAcc{a.Sum - float64(v), a.Count - 1}
}
func (MeanFn[N]) AccumulatorCoder() Coder[MeanAcc] { return meanCoder{} }

type meanCoder struct{}

func (meanCoder) Encode(a MeanAcc) ([]byte, error) {
	b := binary.BigEndian.AppendUint64(make([]byte, 0, 16), math.Float64bits(a.Sum))
	return binary.BigEndian.AppendUint64(b, uint64(a.Count)), nil
}

func (meanCoder) Decode(b []byte) (MeanAcc, error) {
	if len(b) != 16 {
		return MeanAcc{}, fmt.Errorf("%w: mean accumulator needs 16 bytes", ErrDecode)
	}
	return MeanAcc{math.Float64frombits(binary.BigEndian.Uint64(b)), int64(binary.BigEndian.Uint64(b[8:]))}, nil
}

// TopNFn keeps the n largest values by less (ties keep the earlier value), largest first.
// It cannot subtract.
type TopNFn[T any] struct {
	N    int
	Less func(a, b T) bool
	// Coder encodes elements for state; nil means CoderFor[T].
	Coder Coder[T]
}

// TopN returns a combiner keeping the n largest values according to less.
func TopN[T any](n int, less func(a, b T) bool) TopNFn[T] { return TopNFn[T]{N: n, Less: less} }

func (f TopNFn[T]) Create() []T { return nil }
func (f TopNFn[T]) Add(a []T, v T) []T {
	// a is sorted largest first; insert v after every element not less than it.
	i := len(a)
	for i > 0 && f.Less(a[i-1], v) {
		i--
	}
	if i >= f.N {
		return a
	}
	if len(a) < f.N {
		a = append(a, v)
	}
	copy(a[i+1:], a[i:len(a)-1])
	a[i] = v
	return a
}
func (f TopNFn[T]) Merge(a, b []T) []T {
	for _, v := range b {
		a = f.Add(a, v)
	}
	return a
}
func (f TopNFn[T]) Extract(a []T) []T { return slices.Clone(a) }
func (f TopNFn[T]) AccumulatorCoder() Coder[[]T] {
	c := f.Coder
	if c == nil {
		c = CoderFor[T]()
	}
	return SliceCoder[T]{Elem: c}
}

// ToListFn collects values in arrival order (the combiner behind GroupByKey). It cannot
// subtract.
type ToListFn[T any] struct{ Coder Coder[T] }

func (ToListFn[T]) Create() []T        { return nil }
func (ToListFn[T]) Add(a []T, v T) []T { return append(a, v) }
func (ToListFn[T]) Merge(a, b []T) []T { return append(a, b...) }
func (ToListFn[T]) Extract(a []T) []T  { return slices.Clone(a) }
func (f ToListFn[T]) AccumulatorCoder() Coder[[]T] {
	c := f.Coder
	if c == nil {
		c = CoderFor[T]()
	}
	return SliceCoder[T]{Elem: c}
}
