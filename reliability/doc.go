// Package reliability holds policydesk's whole-system tests — bad input
// on every route, SIGKILL during mixed load, backups under load — and the
// helpers they share with `policydesk bench deadline`: the full server
// in-process (Env), an HTTP client that keeps a session (Client), and the
// deadline workload with its exactly-once check (Workload, Check).
//
// The long runs are switched on by environment variables, so that CI
// stays short: POLICYDESK_CRASH_ROUNDS (default 3; the README's long run
// uses 20) and POLICYDESK_BADINPUT_FULL (every role × every attack; CI
// samples).
package reliability
