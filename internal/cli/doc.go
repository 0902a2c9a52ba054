// Package cli implements the samsa command line: one cobra command tree whose
// root is built by newRoot and run by Run (Main wires it to the process).
//
// # Model
//
// Every command except serve, recover-metadata, version and schema is a Kafka client: it talks to the
// brokers named by the persistent --brokers flag (default $SAMSA_BROKERS,
// else 127.0.0.1:9092) over the Kafka protocol only, with franz-go's kgo
// (records) and kadm (admin requests). Nothing here imports broker internals,
// so the same binary administers Apache Kafka or Redpanda as well as Samsa.
// The schema commands, and produce --value-schema / consume --decode, talk to
// a Confluent-compatible schema registry named by --registry (default
// $SAMSA_REGISTRY, else http://127.0.0.1:8081) over HTTP, through the public
// serde package. serve runs the Samsa server in-process (internal/server), and
// recover-metadata rebuilds a lost meta.json of a stopped server's data directory.
//
//	samsa serve                      run a broker
//	samsa topic create|list|describe|alter|delete
//	samsa produce TOPIC              stdin lines → records
//	samsa consume TOPIC...           records → stdout (text or JSON lines)
//	samsa group list|describe|reset-offsets|delete
//	samsa schema register|get|list|versions|check|delete|config
//	samsa bench produce|consume|e2e  the Kafka paper's experiment (internal/bench)
//	samsa bench nexmark              Nexmark queries on the stream library (stream/nexmark)
//	samsa recover-metadata           rebuild a lost meta.json from partition directories
//	samsa version                    version, commit, Go version (also --version)
//	samsa completion bash|zsh|...    shell completion; topic and group names come from the
//	                                 cluster (completion.go)
//
// # Conventions
//
// Results go to stdout (tables, or one JSON document per line with -o json);
// progress, summaries of streaming commands and errors go to stderr. An error
// is printed as "samsa: <what went wrong>". Exit codes: 0 success, 1 failure
// (the cluster refused or could not be reached, a record failed, …), 2 usage
// error (unknown command or flag, bad flag value, wrong number of
// arguments). No input on the command line can panic the program.
//
// Each admin request is bounded by --timeout. Streaming commands (produce,
// consume, bench) run until their input or count is exhausted or until
// SIGINT/SIGTERM, which cancels the context given to Run; consume and produce
// then finish cleanly (flushing and committing what they have) and exit 0.
package cli
