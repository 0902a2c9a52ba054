// Package bench runs the Nexmark queries over generated events and measures their
// throughput per core, the metric of the Nexmark benchmark for Flink
// (github.com/nexmark/nexmark): events processed per second of CPU time, where CPU time is
// what the whole process used (getrusage user + system: the generator, the pipeline, the
// garbage collector, every thread), not wall time.
//
// RunInProcess drives one executor from one goroutine, the generator feeding it directly
// (the source is the Beam generator port, as in Flink's datagen runs). Watermarks come from
// the generator, which knows the smallest event time still to come, every
// Config.WatermarkEvery events; processing time follows the wall clock.
package bench
