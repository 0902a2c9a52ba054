package kafkarun

// PauseInput stops fetching partitions of an input topic of a running App (a consumer that
// lags), and ResumeInput fetches them again: tests use them to hold data back from the App
// while it is in the log.
func PauseInput(a *App, topic string, partitions ...int32) {
	a.cl.PauseFetchPartitions(map[string][]int32{topic: partitions})
}

func ResumeInput(a *App, topic string, partitions ...int32) {
	a.cl.ResumeFetchPartitions(map[string][]int32{topic: partitions})
}

// SetBeforeTxnEnd makes fn run before each exactly-once commit ends its transaction.
func SetBeforeTxnEnd(a *App, fn func()) { a.beforeTxnEnd = fn }
