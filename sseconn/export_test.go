package sseconn

// RowsJSON gives the external benchmarks (bench_test.go) largeJSON, the
// realistic large payload of scan_bench_test.go.
var RowsJSON = largeJSON

// PlainPost gives the external benchmarks plainPost, the baselines' POST.
var PlainPost = plainPost
