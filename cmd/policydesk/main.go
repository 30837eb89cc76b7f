// Command policydesk runs 京技管發〔2024〕29號 end to end: the rules engine,
// the ledger, the workflow and the web platform, in one binary.
//
// Each file of this package registers the subcommands of one capability;
// main only dispatches. Run `policydesk help` for the list.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// stdio is what a subcommand may touch of the outside world, so that tests
// can run subcommands in-process.
type stdio struct {
	in     io.Reader
	out    io.Writer
	err    io.Writer
	getenv func(string) string
}

// command is one subcommand; name may have several words ("policy test").
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, io stdio) int
}

var commands = map[string]command{}

// register adds a subcommand; called from init functions of this package.
func register(name, summary string, run func(ctx context.Context, args []string, io stdio) int) {
	if _, dup := commands[name]; dup {
		panic("policydesk: command registered twice: " + name)
	}
	commands[name] = command{name: name, summary: summary, run: run}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := dispatch(ctx, os.Args[1:], stdio{in: os.Stdin, out: os.Stdout, err: os.Stderr, getenv: os.Getenv})
	stop()
	os.Exit(code)
}

// dispatch finds the longest registered command name that prefixes args and
// runs it with the remaining arguments. Exit codes: 0 success, 1 failure,
// 2 bad usage or refused input.
func dispatch(ctx context.Context, args []string, io stdio) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(io.out)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for n := min(len(args), 3); n > 0; n-- {
		if c, ok := commands[strings.Join(args[:n], " ")]; ok {
			return c.run(ctx, args[n:], io)
		}
	}
	fmt.Fprintf(io.err, "policydesk: 未知命令 %q (unknown command); 运行 policydesk help 查看命令列表\n", strings.Join(args, " "))
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "policydesk — 京技管發〔2024〕29號 AI原生产业政策兑现平台")
	fmt.Fprintln(w, "\n用法 usage: policydesk <command> [flags]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-22s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\n`policydesk <command> -h` shows a command's flags.")
}

// parseArgs parses flags that may come before or after positional
// arguments ("match in.jsonl --date 2025-06-30"); fs.Args() then returns
// the positional arguments.
func parseArgs(fs *flag.FlagSet, args []string) error {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	return fs.Parse(append([]string{"--"}, pos...))
}
