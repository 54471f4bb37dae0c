// Package testenv decides whether an integration suite runs, skips or fails.
//
// Some tests need something from outside Go: a RabbitMQ broker, a Chromium
// binary, a built reference gateway. Each such test calls [Require] with its
// [Suite]. When the suite's variable is set (or, for the browser suite,
// Chromium is on the PATH), Require returns its value and the test runs.
// Otherwise the test is skipped with a message that names the variable and
// how to get a value for it, unless the suite is required (CI=true, or the
// suite's own SSEGATE_REQUIRE_* variable is 1), in which case the test
// fails.
//
// Every decision is also appended to the file named by SSEGATE_SUITE_LOG, when
// set, one line per test: "<suite> ran|skipped|missing <variable>", missing
// being a required suite that could not run. scripts/test reads it to print
// which suites ran and which were skipped.
package testenv
