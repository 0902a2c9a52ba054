// Package console is Samsa's web console and admin JSON API, served by `samsa serve` on
// --http-addr together with /metrics, /healthz and /readyz (docs/console.md).
//
// The console is a client, never a part of the broker: it talks to Kafka through franz-go
// (kadm for admin requests, raw Fetch requests through kgo for browsing, kgo for producing)
// and to the schema registry through its REST API. It therefore works the same against any
// node of a cluster, and it imports no broker package (the architecture test keeps it so).
//
// Model:
//
//   - Pages are html/template, rendered on the server from the same operations the /api/
//     handlers call (ops.go, browse.go, groups.go, schemas.go, produce.go); every form is a
//     plain HTML form. Two small vendored scripts are embedded under static/ with go:embed:
//     htmx (the as-you-type topic filter) and uPlot (charts); app.js draws the charts, runs
//     the live tail (server-sent events) and the dark-mode switch.
//   - A sampler (sampler.go) reads metadata, start/end offsets, log sizes and consumer-group
//     lag every Config.SampleInterval. It keeps an hour of chart history in memory (a ring of
//     points for throughput and per group for lag, at most 500 groups), sets the gauges of
//     internal/metrics, and gives the topic and group lists their sizes, rates and lag
//     without per-request fan-out.
//   - The message browser reads one partition with Fetch requests of at most 1 MiB each,
//     keeping only the page's matches: memory is bounded by the page, not the scan. A scan
//     stops after Config.MaxScan records and reports "scanned N of M". Lag in seconds is the
//     age of the record at the committed offset (its timestamp), cached per partition.
//   - Read-only mode (Config.ReadOnly) hides every change form and refuses every change with
//     403. Cross-site posts are refused by the server's http.CrossOriginProtection.
//   - Per-user authorization (authz.go, Config.Authorize): with an authorizer on the node, each
//     page and action is checked against the ACLs of the request's user before the console's
//     own client acts, and lists hide what the user may not DESCRIBE.
//
// Input is validated before it reaches Kafka; bad input is a 4xx with a message, a failing
// broker or registry a 502/504.
package console
